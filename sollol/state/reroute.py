"""Moving messages that wait in a dead host's queue to a healthy host, one atomic step at a time.

A message is read (oldest first), a destination chosen by the router in Python, and then moved by
a Lua script only if it is still the oldest of its list (compare-and-move), so a worker that comes
back and consumes it meanwhile, or a second beat, can never make it run twice. The message keeps
its priority level and aging clock; its delivery routing key is rewritten so a later redelivery
returns it to the new host's queue.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

from sollol.state.aging import level_keys

__all__ = ["MOVE_LUA", "Waiting", "move", "waiting_messages"]

MOVE_LUA = """
local raw = redis.call('LINDEX', KEYS[1], -1)
if raw ~= ARGV[1] then return 0 end
redis.call('RPOP', KEYS[1])
local new = string.gsub(raw, '"routing_key": "[^"]*"', '"routing_key": "' .. ARGV[2] .. '"', 1)
redis.call('RPUSH', KEYS[2], new)
return 1
"""


class Waiting:
    """The oldest message of one priority list of a queue, decoded enough to route it again."""

    __slots__ = ("job", "level", "raw", "request_id", "src_key")

    def __init__(
        self, src_key: str, level: int, raw: bytes, request_id: str, job: dict[str, Any]
    ) -> None:
        self.src_key, self.level, self.raw = src_key, level, raw
        self.request_id, self.job = request_id, job


def _decode(raw: bytes) -> tuple[str, dict[str, Any]] | None:
    try:
        msg = json.loads(raw)
        args = json.loads(base64.b64decode(msg["body"]))[0]
        return str(args[0]), dict(args[1])
    except (ValueError, KeyError, IndexError, TypeError):
        return None


def waiting_messages(redis: Any, queue: str, limit: int = 100) -> Iterator[Waiting]:
    """Oldest waiting message of each level of ``queue``, repeatedly, highest level first."""
    seen = 0
    for level, key in enumerate(level_keys(queue)):
        while seen < limit:
            raw = redis.lindex(key, -1)
            if raw is None:
                break
            decoded = _decode(raw)
            if decoded is None:
                break  # not a SOLLOL message: leave it
            seen += 1
            yield Waiting(key, level, raw, *decoded)
            if redis.lindex(key, -1) == raw:
                break  # the caller did not move it: stop on this level


def move(redis: Any, msg: Waiting, dst_queue: str) -> bool:
    """Move ``msg`` to the same level of ``dst_queue`` if it is still waiting where it was."""
    dst_key = level_keys(dst_queue)[msg.level]
    return bool(redis.eval(MOVE_LUA, 2, msg.src_key, dst_key, msg.raw, dst_queue))
