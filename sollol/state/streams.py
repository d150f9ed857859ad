"""The per-request Redis stream: how a worker's output travels back to the gateway.

One stream per request id (``sollol:stream:<id>``). A worker appends entries with XADD; the
gateway tails them with blocking XREAD, so a late reader misses nothing and never needs pub/sub.
Every entry carries the attempt number, so output of an abandoned attempt (a worker that was
killed, a host that failed over) is recognised and dropped instead of reaching the client twice.
A worker's entries also carry their number within its run of the attempt (field ``n``): an XADD
that its client retried after the connection died, though the server had applied it (a Sentinel
failover), appends the same entry twice, and the reader drops the second copy.

Entry kinds (field ``k``):
    start      a worker began the attempt; ``d`` = JSON {host, worker, attempt}
    chunk      NDJSON lines from Ollama, verbatim, joined by "\n" (coalesced; not the last)
    tick       the worker is alive (sent while it joins an answer the client wants in one piece)
    final      the last line (``done: true``), the joined answer when the client did not
               stream, or the whole body of a non-streamed endpoint (embed, show)
    error      ``d`` = JSON {status, error, reason, retryable}; reason is host | model_missing |
               client | upstream | cancelled
    cancelled  the worker stopped because the client went away
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sollol.state.connection import bytes_client
from sollol.state.held import HeldConnection
from sollol.wire import TERMINAL_KINDS, EventKind

__all__ = ["KINDS", "StreamEvent", "StreamReader", "StreamWriter"]

KINDS = tuple(EventKind)  # the wire contract (sollol.wire) names them


@dataclass(frozen=True, slots=True)
class StreamEvent:
    entry_id: str
    kind: str
    attempt: int
    data: bytes

    def json(self) -> Any:
        return json.loads(self.data) if self.data else None


class StreamWriter:
    """Appends one attempt's output to a request stream (worker side).

    ``on_close`` callbacks get the pipeline that carries the closing entry (final, error or
    cancelled), so bookkeeping such as releasing the request's lease costs no extra round trip.
    """

    TERMINAL = TERMINAL_KINDS

    def __init__(
        self,
        redis: Any,
        key: str,
        attempt: int,
        maxlen: int = 100_000,
        ttl_s: int = 300,
        written: int = 0,
    ) -> None:
        self.redis = redis
        self.key = key
        self.attempt = str(attempt)
        self.maxlen = str(maxlen)
        self.ttl_s = ttl_s
        self.written = written
        self.closed = False
        self.on_close: list[Callable[[Any], None]] = []
        self._conn = HeldConnection(redis)

    def emit(self, kind: str, data: bytes | str = b"") -> None:
        """XADD one entry; the key's TTL is (re)set on the first and on the closing entry."""
        args = (
            "XADD",
            self.key,
            "MAXLEN",
            "~",
            self.maxlen,
            "*",
            "k",
            kind,
            "a",
            self.attempt,
            "n",
            self.written,
            "d",
            data,
        )
        closing = kind in self.TERMINAL
        if self.written == 0 or closing:
            pipe = self.redis.pipeline(transaction=False)
            pipe.execute_command(*args)
            pipe.expire(self.key, self.ttl_s)
            if closing:
                self.closed = True
                self.release()
                for fn in self.on_close:
                    fn(pipe)
            pipe.execute()
        else:
            self._conn.call(*args)  # the answer's chunks: one held connection (state/held.py)
        self.written += 1

    def release(self) -> None:
        """Give the writer's connection back to the pool (done by the closing entry; owners call
        it too when they stop without one). Idempotent."""
        self._conn.release()

    def emit_json(self, kind: str, obj: Any) -> None:
        self.emit(kind, json.dumps(obj, separators=(",", ":")))


class StreamReader:
    """Tails a request stream with blocking XREAD (gateway side).

    Entries are read as raw bytes (:func:`~sollol.state.connection.bytes_client`): a chunk goes to
    the HTTP client exactly as the worker wrote it, never decoded and encoded again."""

    def __init__(self, redis: Any, key: str, last_id: str = "0-0") -> None:
        self.redis = bytes_client(redis)
        self.key = key
        self.last_id = last_id
        # several XREADs per request: one held connection, no per-command layers (state/held.py)
        self._conn = HeldConnection(self.redis)
        self._numbered: dict[int, int] = {}  # attempt -> highest entry number read since its start

    def read(self, block_ms: int, count: int = 256) -> list[StreamEvent]:
        """Entries after the last one read; waits up to ``block_ms`` for at least one (``[]`` if none)."""
        reply = self._conn.call(
            "XREAD", "COUNT", count, "BLOCK", max(1, block_ms), "STREAMS", self.key, self.last_id
        )
        if not reply:
            return []
        events = []
        for entry_id, flat in _entries(reply):
            fields = dict(zip(flat[::2], flat[1::2], strict=True))
            eid, kind, attempt = entry_id.decode(), fields[b"k"].decode(), int(fields[b"a"])
            self.last_id = eid
            if kind == EventKind.START:  # a new run of the attempt numbers its entries anew
                self._numbered.pop(attempt, None)
            elif (n := fields.get(b"n")) is not None:
                if int(n) <= self._numbered.get(attempt, -1):
                    continue  # the same entry again: a retried XADD the server had applied
                self._numbered[attempt] = int(n)
            events.append(StreamEvent(eid, kind, attempt, fields[b"d"]))
        return events

    def close(self) -> None:
        """Give the reader's connection back to the pool (the next read takes one again)."""
        self._conn.release()


def _entries(reply: Any) -> Any:
    """The entries of a one-stream XREAD reply: RESP3 ``{key: entries}``, RESP2 ``[[key, entries]]``."""
    if isinstance(reply, dict):
        return next(iter(reply.values()))
    return reply[0][1]
