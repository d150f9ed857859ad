"""Fairness: messages that waited ``step_s`` at one priority level are promoted one level, atomically,
while higher-priority work waits above them.

kombu keeps one Redis list per priority level; workers BRPOP the highest non-empty level, so a
steady stream of critical work would starve priority 1 forever. Every message SOLLOL publishes
carries a ``sollol_t`` header (epoch s when it entered its current level). This Lua script looks at the
oldest message of each level (the right end: BRPOP consumes from the right), and while it is
older than ``step_s`` — and only if some higher level holds work, the one thing that can starve
it — moves it to the back (left end) of the next higher level with its clock
reset, updating its priority property so a later redelivery keeps the promotion. Levels are
processed from high to low, so a message climbs at most one level per run: a priority-1 message
reaches the top level after at most 9 × step_s of waiting, whatever the load above it.
"""

from __future__ import annotations

from typing import Any

from sollol.state.queues import KOMBU_SEP, LEVELS
from sollol.wire import Task

__all__ = ["AGING_LUA", "age_queue", "level_keys"]

AGING_LUA = """
local now, step, limit = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local moved = 0
-- a level ages only when work waits above it (as the pass began): a backlog at one level is
-- not starved by anything, and promoting it would only put it ahead of newer requests of the
-- same priority (and of other API keys' fair share at that level)
-- (a health check waiting in the top list is no such work: it would age a whole backlog)
local above = false
local busy = {}
local check = '"task": "' .. ARGV[4] .. '"'
for level = 1, #KEYS do
  busy[level] = above
  local n = redis.call('LLEN', KEYS[level])
  if n > 0 and n <= 4 then
    for _, m in ipairs(redis.call('LRANGE', KEYS[level], 0, -1)) do
      if string.find(m, check, 1, true) then n = n - 1 end
    end
  end
  if n > 0 then above = true end
end
for level = 2, #KEYS do
  local src, dst = KEYS[level], KEYS[level - 1]
  while busy[level] and moved < limit do
    local raw = redis.call('LINDEX', src, -1)
    if not raw then break end
    local t = tonumber(string.match(raw, '"sollol_t": ([%d%.eE%+%-]+)'))
    if not t or now - t < step then break end
    redis.call('RPOP', src)
    -- edit the JSON text in place (a decode/encode round trip would turn [] into {})
    local new = string.gsub(raw, '"sollol_t": [%d%.eE%+%-]+', '"sollol_t": ' .. ARGV[1], 1)
    new = string.gsub(new, '"priority": %d+', '"priority": ' .. (level - 2), 1)
    redis.call('LPUSH', dst, new)
    moved = moved + 1
  end
end
return moved
"""


def level_keys(queue: str) -> list[str]:
    """The queue's kombu lists from level 0 (served first) to level 9."""
    return [f"{queue}{KOMBU_SEP}{lvl}" if lvl else queue for lvl in range(LEVELS)]


def age_queue(redis: Any, queue: str, now: float, step_s: float, limit: int = 1000) -> int:
    """Promote overdue messages of ``queue`` one level; returns how many moved."""
    keys = level_keys(queue)
    return int(redis.eval(AGING_LUA, LEVELS, *keys, now, step_s, limit, Task.HEALTH_CHECK.value))
