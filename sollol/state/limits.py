"""Per-key limits shared by every gateway replica: requests/min, tokens/min, requests in flight.

Two token buckets and a lease set per key, in Redis, checked and taken in one Lua call so that
replicas never race:

    limit:<name>:rpm    hash {t, ts}    capacity rpm, refilled at rpm/60 per second; a request takes 1
    limit:<name>:tpm    hash {t, ts}    capacity tpm, refilled at tpm/60 per second; a request needs a
                                        positive balance to start and is charged what Ollama counted
                                        (prompt_eval_count + eval_count) when it ends, so the balance
                                        may go negative: the next requests wait until it refills
    limit:<name>:conc   zset id → lease expiry   at most ``concurrency`` live leases; a lease is
                                        released when the response closes, and expires by itself
                                        if a gateway dies

The clock is Redis's own (``TIME``), so replicas' clocks do not matter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.state.keys import ApiKey

__all__ = ["ADMIT_LUA", "CHARGE_LUA", "Admission", "Limiter"]

# KEYS: rpm bucket, tpm bucket, concurrency zset. ARGV: rpm, tpm, concurrency, request id, lease s.
# Returns {0, ""} when admitted, else {retry_after_ms, which limit}.
ADMIT_LUA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rpm, tpm, conc = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local function level(key, cap)
  local b = redis.call('HMGET', key, 't', 'ts')
  local tokens, ts = tonumber(b[1]), tonumber(b[2])
  if tokens == nil then return cap end
  return math.min(cap, tokens + (now - ts) * cap / 60)
end
local r_level, t_level = 0, 0
if rpm > 0 then
  r_level = level(KEYS[1], rpm)
  if r_level < 1 then return {math.ceil((1 - r_level) * 60000 / rpm), 'rpm'} end
end
if tpm > 0 then
  t_level = level(KEYS[2], tpm)
  if t_level <= 0 then return {math.ceil((1 - t_level) * 60000 / tpm), 'tpm'} end
end
if conc > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= conc then
    return {1000, 'concurrency'}
  end
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
  redis.call('EXPIRE', KEYS[3], math.ceil(tonumber(ARGV[5])) + 60)
end
if rpm > 0 then
  redis.call('HSET', KEYS[1], 't', r_level - 1, 'ts', now)
  redis.call('EXPIRE', KEYS[1], 120)
end
if tpm > 0 then
  redis.call('HSET', KEYS[2], 't', t_level, 'ts', now)
  redis.call('EXPIRE', KEYS[2], 120)
end
return {0, ''}
"""

# KEYS: tpm bucket, concurrency zset. ARGV: tpm, tokens used, request id.
CHARGE_LUA = """
redis.call('ZREM', KEYS[2], ARGV[3])
local tpm, used = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm <= 0 or used <= 0 then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local b = redis.call('HMGET', KEYS[1], 't', 'ts')
local tokens, ts = tonumber(b[1]), tonumber(b[2])
if tokens == nil then tokens, ts = tpm, now end
tokens = math.min(tpm, tokens + (now - ts) * tpm / 60) - used
redis.call('HSET', KEYS[1], 't', math.max(tokens, -tpm), 'ts', now)
redis.call('EXPIRE', KEYS[1], 120)
return 1
"""


@dataclass(frozen=True)
class Admission:
    """The answer of :meth:`Limiter.admit`: admitted, or which limit and when to retry."""

    admitted: bool
    limit: str = ""  # rpm | tpm | concurrency
    retry_after_s: int = 0

    def message(self, key: ApiKey) -> str:
        value = getattr(key, self.limit, 0)
        what = {
            "rpm": f"{value} requests per minute",
            "tpm": f"{value} tokens per minute",
            "concurrency": f"{value} concurrent requests",
        }[self.limit]
        return (
            f"rate limit exceeded for API key '{key.name}': {what}; retry in {self.retry_after_s} s"
        )


class Limiter:
    """Takes and returns a key's limits in Redis (one round trip each)."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig) -> None:
        self.cfg = cfg
        self._admit = redis.register_script(ADMIT_LUA)
        self._charge = redis.register_script(CHARGE_LUA)

    def _keys(self, key: ApiKey) -> tuple[str, str, str]:
        k = self.cfg.key
        return (
            k("limit", key.name, "rpm"),
            k("limit", key.name, "tpm"),
            k("limit", key.name, "conc"),
        )

    @staticmethod
    def limited(key: ApiKey) -> bool:
        return bool(key.rpm or key.tpm or key.concurrency)

    def admit(self, key: ApiKey, request_id: str) -> Admission:
        """Take one request of ``key``'s limits, or say which limit refuses it and for how long."""
        if not self.limited(key):
            return Admission(True)
        lease_s = self.cfg.request_timeout_s + 30
        wait_ms, which = self._admit(
            keys=self._keys(key), args=(key.rpm, key.tpm, key.concurrency, request_id, lease_s)
        )
        if int(wait_ms) == 0:
            return Admission(True)
        return Admission(False, str(which), max(1, math.ceil(int(wait_ms) / 1000)))

    def finish(self, key: ApiKey, request_id: str, tokens: int) -> None:
        """The request ended: release its lease, charge the tokens Ollama counted."""
        if not self.limited(key):
            return
        _, tpm_key, conc_key = self._keys(key)
        self._charge(keys=(tpm_key, conc_key), args=(key.tpm, max(0, tokens), request_id))
