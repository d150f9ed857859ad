"""Starting one attempt of a request on a worker, atomically (one Lua script, one round trip).

A worker may run an attempt only if it did not end already (a redelivered message), no later
attempt superseded it (the gateway failed over) and its client is still there. When it may, the
same script announces it on the request's stream (a ``start`` entry), takes a lease in
``running:<host>`` (:mod:`sollol.state.inflight`) and stamps ``began_at`` in the host's health
hash (proof that the worker consumes its queue, :mod:`sollol.state.health`).

Keys: ``stream:<id>``, ``attempt:<id>`` (the latest attempt the gateway published),
``cancel:<id>`` (the attempt up to which the client gave up), ``running:<host>``,
``health:<host>``.
"""

from __future__ import annotations

import time
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.state import inflight
from sollol.wire import StartInfo, Verdict, compact_json

__all__ = ["BEGIN_LUA", "AttemptStarter"]

BEGIN_LUA = """
local attempt = tonumber(ARGV[1])
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last > 0 then
  local f, kind, att = last[1][2], nil, 0
  for i = 1, #f, 2 do
    if f[i] == 'k' then kind = f[i + 1] elseif f[i] == 'a' then att = tonumber(f[i + 1]) end
  end
  if (kind == 'final' or kind == 'error' or kind == 'cancelled') and att >= attempt then
    return 'duplicate'
  end
end
local current = redis.call('GET', KEYS[2])
if current and tonumber(current) > attempt then return 'superseded' end
local cancel = redis.call('GET', KEYS[3])
if cancel and tonumber(cancel) >= attempt then return 'cancelled' end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'k', 'start', 'a', ARGV[1], 'd', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], 86400)
redis.call('HSET', KEYS[5], 'began_at', ARGV[7])
redis.call('EXPIRE', KEYS[5], 86400)
return 'ok'
"""


class AttemptStarter:
    """The registered BEGIN script on one Redis client (EVALSHA, loaded on first use)."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig) -> None:
        self.cfg = cfg
        self._script = redis.register_script(BEGIN_LUA)

    def begin(self, request_id: str, start: StartInfo, member: str) -> Verdict:
        """Start ``start.attempt`` of ``request_id`` on ``start.host`` with lease ``member``."""
        cfg, now = self.cfg, time.time()
        keys = (
            cfg.key("stream", request_id),
            cfg.key("attempt", request_id),
            cfg.key("cancel", request_id),
            cfg.key("running", start.host),
            cfg.key("health", start.host),
        )
        args = (
            start.attempt,
            compact_json(start.to_json()),
            member,
            now + inflight.lease_s(cfg),
            cfg.stream_maxlen,
            cfg.stream_ttl_s,
            now,
        )
        out = self._script(keys=keys, args=args)
        return Verdict(out)
