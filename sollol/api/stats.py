"""``/api/stats`` and ``/api/dashboard``: the original SOLLOL's statistics endpoints.

Both are computed from what the gateway already has: the fleet snapshot (hosts, learned rates,
queues, running requests) and the recent routing decisions in Redis (``sollol:decisions``, the
last ``decisions_kept`` finished requests). Durations are milliseconds; rates are in [0, 1].
The pure functions here take plain data so they are tested without Redis.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from flask import Blueprint, Response

from sollol.api.responses import json_response
from sollol.api.services import services
from sollol.router import HostState
from sollol.state.snapshot import host_state

__all__ = ["bp", "dashboard_view", "durations", "fleet_stats", "host_alerts"]

bp = Blueprint("stats", __name__)

HIGH_LATENCY_MS = 5_000.0  # a host whose recent requests average more than this gets a warning
LOW_SUCCESS_RATE = 0.9  # below this, a warning


def durations(values: Iterable[float]) -> dict[str, float | int]:
    """``count``, ``avg_ms``, ``min_ms``, ``max_ms`` of durations in ms (zeros when empty)."""
    vals = list(values)
    if not vals:
        return {"count": 0, "avg_ms": 0.0, "min_ms": 0.0, "max_ms": 0.0}
    return {
        "count": len(vals),
        "avg_ms": round(sum(vals) / len(vals), 1),
        "min_ms": round(min(vals), 1),
        "max_ms": round(max(vals), 1),
    }


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _host_stats(h: HostState, mine: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ok = [d for d in mine if d.get("outcome") == "ok"]
    return {
        "health": h.health,
        "circuit": h.circuit,
        "latency_ms": durations(d["actual_ms"] for d in ok)["avg_ms"],
        # recent outcomes when there are some, else the rate learned from Ollama's answers
        "success_rate": round(len(ok) / len(mine), 4) if mine else round(h.success_rate, 4),
        "requests": len(mine),
        "in_flight": h.running,
        "slots": h.slots,
        "queued_by_priority": {str(p): n for p, n in enumerate(h.queued, 1)},
        "vram_mb": h.vram_mb,
        "loaded": [m.name for m in h.loaded],
        "models": {
            m: {
                "gen_tps": _rounded(s.gen_tps, 1),
                "prompt_tps": _rounded(s.prompt_tps, 1),
                "load_s": _rounded(s.load_s, 2),
                "success_rate": round(s.success_rate, 4),
                "samples": s.samples,
            }
            for m, s in h.stats.items()
        },
    }


def fleet_stats(
    hosts: Sequence[HostState], decisions: Sequence[Mapping[str, Any]], strategy: str
) -> dict[str, Any]:
    """Per-host performance, learned patterns per task type × model, duration history, mix."""
    by_host: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    patterns: dict[str, list[float]] = defaultdict(list)
    for d in decisions:
        by_host[d.get("host") or ""].append(d)
        if d.get("outcome") == "ok":
            patterns[f"{d.get('task_type')}:{d.get('model')}"].append(d["actual_ms"])
    ok = [d["actual_ms"] for d in decisions if d.get("outcome") == "ok"]
    return {
        "time": time.time(),
        "strategy": strategy,
        "hosts": {h.name: _host_stats(h, by_host.get(h.name, [])) for h in hosts},
        "patterns": {key: durations(vals) for key, vals in sorted(patterns.items())},
        "performance_history": durations(ok),
        "routing": {
            "decisions": len(decisions),
            "by_host": dict(Counter(d.get("host") or "none" for d in decisions)),
            "by_task_type": dict(Counter(d.get("task_type") or "" for d in decisions)),
            "by_endpoint": dict(Counter(d.get("endpoint") or "" for d in decisions)),
            "by_outcome": dict(Counter(d.get("outcome") or "" for d in decisions)),
            "failovers": sum(max(0, int(d.get("attempts") or 1) - 1) for d in decisions),
        },
    }


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts).isoformat()


def host_alerts(
    stats: Mapping[str, Mapping[str, Any]], reasons: Mapping[str, str], now: float
) -> list[dict[str, str]]:
    """Current problems as the original's alerts: ``severity``, ``message``, ``timestamp``."""
    alerts = []
    for name, s in stats.items():
        if s["health"] == "down":
            why = f": {reasons[name]}" if reasons.get(name) else ""
            alerts.append(("error", f"Host {name} is down{why}"))
        elif s["health"] == "degraded":
            alerts.append(("warning", f"Host {name} is degraded: {reasons.get(name, '')}"))
        if s["circuit"] != "closed":
            alerts.append(("warning", f"Host {name} circuit is {s['circuit']}"))
        if s["latency_ms"] > HIGH_LATENCY_MS:
            alerts.append(("warning", f"Host {name} has high latency: {s['latency_ms']:.0f}ms"))
        if s["requests"] and s["success_rate"] < LOW_SUCCESS_RATE:
            alerts.append(
                ("warning", f"Host {name} has a low success rate: {s['success_rate']:.1%}")
            )
    return [{"severity": sev, "message": msg, "timestamp": _stamp(now)} for sev, msg in alerts]


def dashboard_view(
    stats: Mapping[str, Any],
    reasons: Mapping[str, str],
    workers: int,
    batch_available: bool,
    now: float,
) -> dict[str, Any]:
    """The original's ``/api/dashboard`` shape, from :func:`fleet_stats`' result."""
    hosts = stats["hosts"]
    up = {n: s for n, s in hosts.items() if s["health"] != "down"}
    measured = [s["latency_ms"] for s in up.values() if s["requests"]]
    learned = {k.split(":", 1)[0] for k in stats["patterns"]}
    return {
        "status": {
            "healthy": bool(up),
            "total_hosts": len(hosts),
            "available_hosts": len(up),
            "workers": workers,
            "batch_available": batch_available,
        },
        "performance": {
            "avg_latency_ms": round(sum(measured) / len(measured), 1) if measured else 0.0,
            "avg_success_rate": (
                round(sum(s["success_rate"] for s in up.values()) / len(up), 4) if up else 0.0
            ),
            "total_gpu_memory_mb": sum(s["vram_mb"] for s in up.values()),
        },
        "routing": {
            "intelligent_routing_enabled": stats["strategy"] == "performance",
            "strategy": stats["strategy"],
            "task_types_learned": len(learned),
            "patterns_available": sorted(learned),
        },
        "alerts": host_alerts(hosts, reasons, now),
        "hosts": [{"host": n, **s} for n, s in hosts.items()],
    }


def _gather() -> tuple[dict[str, Any], dict[str, str], int]:
    svc = services()
    now = time.time()
    views = svc.fleet.views()
    raw = svc.redis.lrange(svc.cfg.key("decisions"), 0, svc.cfg.decisions_kept - 1)
    decisions = [json.loads(r) for r in raw]
    stats = fleet_stats([host_state(v, now) for v in views], decisions, svc.router.strategy)
    reasons = {v.record.name: v.reason for v in views}
    workers = sum(1 for v in views if v.record.alive)
    return stats, reasons, workers


@bp.get("/api/stats")
def stats() -> Response:
    """Per-host performance, learned patterns, duration history, routing decision mix."""
    return json_response(_gather()[0])


@bp.get("/api/dashboard")
def dashboard() -> Response:
    """System status, performance summary, routing intelligence, alerts and hosts."""
    stats, reasons, workers = _gather()
    cfg = services().cfg
    batch = cfg.autobatch_enabled and workers > 0  # chunks run on the host workers
    return json_response(dashboard_view(stats, reasons, workers, batch, time.time()))
