"""kombu's Redis transport with one change: a channel reuses one client object.

Stock kombu builds a new ``redis.Redis`` (cheap sockets, expensive Python object) for every
``conn_or_acquire`` — on each publish, each delivery bookkeeping and each ack. On a busy gateway
or worker that was the largest single item of CPU per request. The client is thread-safe (it
takes a pooled connection per command), so one per channel and pool is enough. Creating one
while the channel's connection is being torn down raises a connection error (see below).
:class:`SentinelTransport` is the same channel behind Redis Sentinel (``sentinel://`` URLs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import redis
from kombu.transport import redis as kombu_redis

from sollol.state.connection import FailoverConnection

__all__ = ["Channel", "SentinelChannel", "SentinelTransport", "Transport"]


class Channel(kombu_redis.Channel):
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
