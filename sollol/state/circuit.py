"""Circuit breaker per host, shared by every gateway replica through Redis (atomic Lua transitions).

    closed ──(N consecutive host failures)──▶ open ──(circuit_open_s later)──▶ half_open
      ▲                                         ▲                                │
      └──────(M successes in half_open)─────────┼────────(any failure)───────────┘

``circuit:<host>`` HASH: state, failures, successes, opened_at (epoch s), reason. Open hosts are
filtered out by the router; half-open hosts get probes and a small, growing share of traffic (the
router penalizes them) until M successes close the circuit. Host failures are connection errors,
timeouts, 5xx and Ollama's 503 "server busy"; a 404 for a missing model is not one.
"""

from __future__ import annotations

from typing import Any

from sollol.config import SOLLOLConfig

__all__ = ["effective_state", "read_circuit", "record_failure", "record_success"]

_FAILURE = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local now, threshold, open_s = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  if now - opened >= open_s then state = 'half_open' end
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'half_open' or (state == 'closed' and failures >= threshold) then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'successes', 0,
             'reason', ARGV[4])
  state = 'open'
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
redis.call('EXPIRE', KEYS[1], 86400)
return state
"""

_SUCCESS = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
local now, open_s, close_after = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
if state == 'closed' then
  local f = redis.call('HGET', KEYS[1], 'failures')
  if ARGV[4] == '0' and f and f ~= '0' then redis.call('HSET', KEYS[1], 'failures', 0) end
  return state
end
if state == 'open' then
  local opened = tonumber(redis.call('HGET', KEYS[1], 'opened_at') or '0')
  if now - opened < open_s then return state end
end
local ok = redis.call('HINCRBY', KEYS[1], 'successes', 1)
if ok >= close_after then
  redis.call('HSET', KEYS[1], 'state', 'closed', 'failures', 0, 'successes', 0, 'reason', '')
  state = 'closed'
else
  redis.call('HSET', KEYS[1], 'state', 'half_open')
  state = 'half_open'
end
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
return state
"""


def record_failure(redis: Any, cfg: SOLLOLConfig, host: str, reason: str, now: float) -> str:
    """Count a host failure; returns the circuit state after it."""
    out = redis.eval(
        _FAILURE,
        1,
        cfg.key("circuit", host),
        now,
        cfg.circuit_failures_to_open,
        cfg.circuit_open_s,
        reason[:200],
    )
    return str(out)


def record_success(
    redis: Any, cfg: SOLLOLConfig, host: str, now: float, probe: bool = False
) -> str:
    """Count a success; in half-open, enough of them close the circuit. Returns the state.

    A ``probe`` (a health check) only helps a half-open circuit close: it must not reset the
    failure count of a closed one, or a node whose inference fails while /api/version answers
    would never be taken out."""
    out = redis.eval(
        _SUCCESS,
        1,
        cfg.key("circuit", host),
        now,
        cfg.circuit_open_s,
        cfg.circuit_successes_to_close,
        int(probe),
    )
    return str(out)


def effective_state(circuit: dict[str, str], now: float, open_s: float) -> str:
    """The state a reader should act on: an open circuit past its cool-down is half-open."""
    state = circuit.get("state", "closed")
    if state == "open" and now - float(circuit.get("opened_at", 0) or 0) >= open_s:
        return "half_open"
    return state


def read_circuit(redis: Any, cfg: SOLLOLConfig, host: str) -> dict[str, str]:
    return dict(redis.hgetall(cfg.key("circuit", host)))
