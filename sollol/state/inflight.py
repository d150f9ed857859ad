"""Requests executing on each host, as leases that die with the worker holding them.

``running:<host>`` is a ZSET of ``<model>\\x1f<request id>`` scored by the lease deadline (epoch s).
A worker adds a member when it starts a request, renews its members on every heartbeat and removes
them when the request ends; a killed worker's members simply stop counting once their deadline
passes. Nothing to clean up by hand, no counter that drifts.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sollol.config import SOLLOLConfig

__all__ = ["begin", "end", "member", "parse_running", "renew"]

SEP = "\x1f"


def member(model: str, request_id: str) -> str:
    return f"{model}{SEP}{request_id}"


def lease_s(cfg: SOLLOLConfig) -> float:
    return max(3 * cfg.heartbeat_interval_s, cfg.heartbeat_ttl_s)


def begin(redis: Any, cfg: SOLLOLConfig, host: str, m: str) -> None:
    key = cfg.key("running", host)
    pipe = redis.pipeline(transaction=False)
    pipe.zadd(key, {m: time.time() + lease_s(cfg)})
    pipe.expire(key, 86_400)
    pipe.execute()


def renew(redis: Any, cfg: SOLLOLConfig, host: str, members: Iterable[str]) -> None:
    """Push the deadline of this worker's live requests forward; drop members of dead workers."""
    key = cfg.key("running", host)
    now = time.time()
    pipe = redis.pipeline(transaction=False)
    pipe.zremrangebyscore(key, "-inf", now)
    deadlines = {m: now + lease_s(cfg) for m in members}
    if deadlines:
        pipe.zadd(key, deadlines, xx=True)
    pipe.execute()


def end(redis: Any, cfg: SOLLOLConfig, host: str, m: str) -> None:
    redis.zrem(cfg.key("running", host), m)


def parse_running(members: Iterable[str]) -> Counter[str]:
    """Count live members per model (members as returned by ZRANGEBYSCORE now +inf)."""
    counts: Counter[str] = Counter()
    for text in members:
        counts[text.split(SEP, 1)[0]] += 1
    return counts
