"""Which Redis server process is answering: tells a dropped connection from a restart.

A call waiting in a host's queue has no stream yet (the worker's first XADD creates it), so after
a failed read "the stream is missing" cannot tell whether Redis restarted empty (the Celery
message is gone: publish the call again) or only a connection dropped (the message still
waits: publishing again would cost the call its place in the queue). An answer already
streaming has the same question: a restarted server may have lost what the worker wrote
meanwhile (continue the answer elsewhere), a dropped connection lost nothing (read on). Redis's
``run_id`` (``INFO server``) is new in every server process, so the gateway compares the one
answering now with the one it saw before it published the call.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from typing import Any

import redis as redis_lib

__all__ = ["ServerEpoch"]


class ServerEpoch:
    """The ``run_id`` of the Redis server, and since when this process has known it."""

    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._lock = threading.Lock()
        self._run_id: str | None = None
        self._since = math.inf  # time.monotonic() when _run_id was first read

    def note(self) -> None:
        """Read the run_id once, before the first publish, so later checks have a reference
        (Redis may be down when the gateway starts: then the next publish tries again)."""
        if self._run_id is None:
            with contextlib.suppress(redis_lib.RedisError):
                self._observe()

    def unchanged_since(self, t: float) -> bool:
        """True only when the server answering now was already answering at monotonic time
        ``t``: the same run_id, first read before ``t``. False when it changed, was not known
        then, or the server reports none (the caller must assume the worst). Raises
        RedisError while Redis is unreachable."""
        with self._lock:
            known, since = self._run_id, self._since
        current = self._observe()
        return bool(current) and current == known and since <= t

    def _observe(self) -> str:
        try:
            current = str(self._redis.info("server").get("run_id", ""))
        except redis_lib.ResponseError:  # a Redis-compatible server without INFO
            current = ""
        with self._lock:
            if current != self._run_id:
                self._run_id, self._since = current, time.monotonic()
        return current
