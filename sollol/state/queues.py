"""kombu's Redis priority lists, seen from SOLLOL's 1..10 priority scale.

With ``priority_steps = list(range(10))`` kombu keeps one Redis list per level and queue: level 0
(the highest) is the bare queue name, level k is ``queue + "\\x06\\x16" + str(k)``. SOLLOL priority p
(10 = critical) maps to kombu level ``10 - p`` so that critical work sits in the list BRPOP reads first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["KOMBU_SEP", "kombu_priority", "priority_list_keys", "queue_depths", "sollol_priority"]

KOMBU_SEP = "\x06\x16"  # kombu's default separator; never appears in a host name
LEVELS = 10


def kombu_priority(priority: int) -> int:
    """SOLLOL priority 1..10 → kombu/Redis level 9..0 (0 is served first)."""
    return LEVELS - priority


def sollol_priority(level: int) -> int:
    """kombu/Redis level 0..9 → SOLLOL priority 10..1."""
    return LEVELS - level


def priority_list_keys(queue: str) -> list[str]:
    """The Redis list of each SOLLOL priority 1..10 for ``queue``; index p-1 holds priority p."""
    return [_list_key(queue, kombu_priority(p)) for p in range(1, LEVELS + 1)]


def _list_key(queue: str, level: int) -> str:
    return f"{queue}{KOMBU_SEP}{level}" if level else queue


def queue_depths(redis: Any, queues: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """Messages waiting per SOLLOL priority for each queue, in one pipelined round trip.

    Plain LLEN of the queue name undercounts: it sees only the highest level.
    """
    pipe = redis.pipeline(transaction=False)
    for q in queues:
        for key in priority_list_keys(q):
            pipe.llen(key)
    flat = pipe.execute()
    return {q: tuple(flat[i * LEVELS : (i + 1) * LEVELS]) for i, q in enumerate(queues)}
