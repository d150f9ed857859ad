"""kombu's Redis transport with two changes: a channel reuses one client object, and the unacked
index is written without redis-py's Pipeline.

Stock kombu builds a new ``redis.Redis`` (cheap sockets, expensive Python object) for every
``conn_or_acquire`` — on each publish, each delivery bookkeeping and each ack. On a busy gateway
or worker that was the largest single item of CPU per request. The client is thread-safe (it
takes a pooled connection per command), so one per channel and pool is enough. Creating one
while the channel's connection is being torn down raises a connection error (see below).
:class:`SentinelTransport` is the same channel behind Redis Sentinel (``sentinel://`` URLs).

With late acks every message is entered in kombu's unacked index when it is delivered (MULTI,
ZADD, HSET, EXEC) and removed when it is acked (MULTI, ZREM, HDEL, EXEC): that index is what
brings a killed worker's message back. Through a redis-py ``Pipeline`` those two transactions
were the worker's largest item (about 30 % of its CPU, py-spy); :class:`QoS` sends each one as
one packed write on a pooled connection and reads its replies, the same commands, the same
atomicity, retried as the connection's commands are.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual
from kombu.utils.json import dumps

from sollol.state.connection import FailoverConnection

__all__ = ["Channel", "SentinelChannel", "SentinelTransport", "Transport"]


class QoS(kombu_redis.QoS):
    """kombu's ack emulation with its unacked-index transactions sent as packed writes, each
    thread that delivers or acks (the consumer's event loop, in practice) on a connection of its
    own: checking one out of the pool and back cost as much as the transaction itself."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[no-untyped-call]
        self._local = threading.local()

    def append(self, message: Any, delivery_tag: str) -> None:
        delivery = message.delivery_info
        # kombu is unannotated: its calls below carry no-untyped-call ignores
        entry = dumps([message._raw, delivery["exchange"], delivery["routing_key"]])  # type: ignore[no-untyped-call]
        self._transaction(
            ("ZADD", self.unacked_index_key, time.time(), delivery_tag),
            ("HSET", self.unacked_key, delivery_tag, entry),
        )
        virtual.QoS.append(self, message, delivery_tag)  # type: ignore[no-untyped-call]

    def ack(self, delivery_tag: str) -> None:
        self._forget(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue:
            super().reject(delivery_tag, requeue=True)  # type: ignore[no-untyped-call]
            return
        self._forget(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)  # type: ignore[no-untyped-call]

    def _forget(self, delivery_tag: str) -> None:
        self._transaction(
            ("ZREM", self.unacked_index_key, delivery_tag),
            ("HDEL", self.unacked_key, delivery_tag),
        )

    def _transaction(self, *commands: tuple[Any, ...]) -> None:
        """MULTI, ``commands``, EXEC in one write on this thread's connection."""
        conn = self._connection()
        try:
            conn.retry.call_with_retry(
                lambda: _multi_exec(conn, commands), lambda _error: conn.disconnect()
            )
        except BaseException:
            conn.disconnect()  # replies may be left unread; the next command reconnects
            raise

    def _connection(self) -> Any:
        """This thread's connection, made like the channel pool's own (address, sentinels,
        timeouts, Retry); it connects on first use and again after a failure."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            with self.channel.conn_or_acquire() as client:
                pool = client.connection_pool
            conn = self._local.conn = pool.connection_class(**pool.connection_kwargs)
        return conn


def _multi_exec(conn: Any, commands: Sequence[tuple[Any, ...]]) -> None:
    conn.send_packed_command(conn.pack_commands([("MULTI",), *commands, ("EXEC",)]))
    for _ in range(len(commands) + 1):  # OK, then QUEUED per command (an error reply raises)
        conn.read_response()
    for reply in conn.read_response() or ():  # EXEC: one reply per command
        if isinstance(reply, Exception):
            raise reply


class Channel(kombu_redis.Channel):
    QoS = QoS
    _sollol_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        cached, pool = self._sollol_client, self._pool
        if cached is None or pool is None or cached.connection_pool is not pool:
            if self.connection.client is None:
                # The kombu connection was already released: this is a channel being closed
                # after the broker went away, whose close() restores unacked messages. Stock
                # kombu fails here with AttributeError, which is not a connection error, so
                # Celery's ``ignore_errors`` lets it through and the worker exits with
                # "Unrecoverable error" (kombu issues 582, 970). As a connection error it is
                # ignored and the consumer reconnects; unacked messages are restored later by
                # the visibility timeout.
                raise redis.ConnectionError("broker connection already closed")
            # kombu leaves _create_client unannotated
            cached = self._sollol_client = self._create_client()  # type: ignore[no-untyped-call]
        yield cached


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """kombu's sentinel channel (asks the sentinels for the master) with the cached client, and
    connections that ask the sentinels again when they reconnect (not the old master's address)."""

    connection_class = FailoverConnection


class SentinelTransport(kombu_redis.SentinelTransport):
    Channel = SentinelChannel
