"""Host health from the signals in Redis: liveness lease, Ollama reachability, health checks, circuit.

    down      no heartbeat; Ollama unreachable; circuit open; a health check sent through the
              host's queue went unanswered while the worker had nothing running and began
              nothing lately (not consuming)
    degraded  circuit half-open (probing); the last health check failed or was slow
    healthy   otherwise

A low success rate is not a health state here: it is a routing factor (the router weighs it), and
as a state it would never recover once traffic stopped going to the host.

``health:<host>`` HASH written by beat (sent_at: the first unanswered check; queued_at: the last
one published), by the worker's health_check task (checked_at, ok, latency_ms, error) and by
every request the worker begins (began_at). Alerts (state changes) go to the ``alerts`` list.

Health checks never pile up in a host's queue: beat publishes one only when none is waiting —
the last was answered, or it expired (``check_expiry_s``) and is then removed from the queue
(:func:`purge_checks`) — so a host that stopped consuming holds at most one. The one that waits
is not user work: :func:`waiting_checks` is what the fleet view subtracts from the queue's
priority-10 list, where checks travel.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from sollol.config import SOLLOLConfig

__all__ = [
    "assess",
    "check_due",
    "check_expiry_s",
    "publish_check",
    "purge_checks",
    "record_alert",
    "record_check",
    "waiting_checks",
]

SLOW_CHECK_MS = 2000.0
HEALTH_CHECK_TASK = "sollol.health_check"  # sollol.wire.Task.HEALTH_CHECK (state imports no wire)


def _f(d: Mapping[str, str], key: str) -> float:
    try:
        return float(d.get(key, 0) or 0)
    except ValueError:
        return 0.0


def assess(  # noqa: PLR0911 - one return per rule, in order of severity
    alive: bool,
    ollama_ok: bool,
    ollama_error: str,
    seen_at: float,
    running: int,
    circuit: str,
    circuit_reason: str,
    check: Mapping[str, str],
    now: float,
    cfg: SOLLOLConfig,
) -> tuple[str, str]:
    """(state, reason) of one host; reason is empty when healthy."""
    if not alive:
        return "down", f"no heartbeat for {now - seen_at:.0f} s" if seen_at else "no heartbeat"
    if not ollama_ok:
        return "down", f"Ollama unreachable: {ollama_error}"[:200]
    if circuit == "open":
        return "down", f"circuit open after repeated failures: {circuit_reason}"[:200]
    sent, checked = _f(check, "sent_at"), _f(check, "checked_at")
    patience = 3 * cfg.health_check_interval_s + 2
    overdue = sent - checked > 0 and now - sent > patience
    # A check can wait (and expire) behind a long backlog of top-priority work on a busy host;
    # a worker that is running requests or began one lately is consuming its queue all the same.
    idle = running == 0 and now - _f(check, "began_at") > patience
    if overdue and idle:
        return "down", f"worker not consuming its queue (health check waiting {now - sent:.0f} s)"
    if circuit == "half_open":
        return "degraded", "circuit half-open: probing after failures"
    if checked and check.get("ok") == "0":
        return "degraded", f"health check failed: {check.get('error', '')}"[:200]
    if checked and _f(check, "latency_ms") > SLOW_CHECK_MS:
        return "degraded", f"slow health check ({_f(check, 'latency_ms'):.0f} ms)"
    return "healthy", ""


def record_check(
    redis: Any, cfg: SOLLOLConfig, host: str, ok: bool, latency_ms: float, error: str = ""
) -> None:
    """The worker's answer to a health check (runs on the host's own worker)."""
    key = cfg.key("health", host)
    pipe = redis.pipeline(transaction=False)
    pipe.hset(
        key,
        mapping={
            "checked_at": time.time(),
            "ok": int(ok),
            "latency_ms": round(latency_ms, 1),
            "error": error[:200],
        },
    )
    pipe.expire(key, 86_400)
    pipe.execute()


def record_alert(redis: Any, cfg: SOLLOLConfig, host: str, old: str, new: str, reason: str) -> None:
    entry = {"ts": time.time(), "host": host, "from": old, "to": new, "reason": reason}
    pipe = redis.pipeline(transaction=False)
    pipe.lpush(cfg.key("alerts"), json.dumps(entry))
    pipe.ltrim(cfg.key("alerts"), 0, 199)
    pipe.execute()


def check_expiry_s(cfg: SOLLOLConfig) -> float:
    """Seconds a published health check stays valid: two rounds, then the next one replaces it."""
    return 2 * cfg.health_check_interval_s


def waiting_checks(check: Mapping[str, str]) -> int:
    """Health checks published and not answered yet: 0 or 1 (see :func:`check_due`)."""
    return 1 if _f(check, "queued_at") > _f(check, "checked_at") else 0


def check_due(check: Mapping[str, str], now: float, cfg: SOLLOLConfig) -> bool:
    """Publish a health check now? Only when none is waiting, or the one waiting expired."""
    return not waiting_checks(check) or now - _f(check, "queued_at") >= check_expiry_s(cfg)


def purge_checks(redis: Any, queue_key: str, scan: int = 1000) -> int:
    """Remove health checks still waiting in the list ``queue_key`` (the host's priority-10 list;
    expired ones a worker would only discard); at most the ``scan`` oldest messages. Returns
    how many were removed."""
    removed = 0
    for raw in redis.lrange(queue_key, -scan, -1):  # the oldest: kombu pops from the tail
        try:
            task = json.loads(raw).get("headers", {}).get("task")
        except (ValueError, AttributeError):
            continue
        if task == HEALTH_CHECK_TASK:
            removed += int(redis.lrem(queue_key, 1, raw))
    return removed


def publish_check(
    redis: Any,
    cfg: SOLLOLConfig,
    host: str,
    queue_key: str,
    check: Mapping[str, str],
    now: float,
    send: Callable[[float], None],
) -> bool:
    """Beat's step for one host: when :func:`check_due`, remove an expired check still waiting in
    ``queue_key`` (the host's priority-10 list), note the times and ``send(expires_s)`` a new one.
    ``sent_at`` stays at the first unanswered check, so a host that never answers is found down.
    Returns whether a check was published."""
    if not check_due(check, now, cfg):
        return False
    purge_checks(redis, queue_key)
    fields: dict[str, float] = {"queued_at": now}
    if _f(check, "sent_at") <= _f(check, "checked_at"):  # none pending: start the clock
        fields["sent_at"] = now
    redis.hset(cfg.key("health", host), mapping=fields)
    send(check_expiry_s(cfg))
    return True
