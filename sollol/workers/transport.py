"""kombu's Redis transport with one change: a channel reuses one client object.

Stock kombu builds a new ``redis.Redis`` (cheap sockets, expensive Python object) for every
``conn_or_acquire`` — on each publish, each delivery bookkeeping and each ack. On a busy gateway
or worker that was the largest single item of CPU per request. The client is thread-safe (it
takes a pooled connection per command), so one per channel and pool is enough.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu.transport import redis as kombu_redis

__all__ = ["Channel", "Transport"]


class Channel(kombu_redis.Channel):
    _sollol_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        cached = self._sollol_client
        if cached is None or cached.connection_pool is not self.pool:
            cached = self._sollol_client = self._create_client()
        yield cached


class Transport(kombu_redis.Transport):
    Channel = Channel
