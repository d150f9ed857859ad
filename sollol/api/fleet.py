"""SOLLOL's own endpoints: health, fleet status, recent routing decisions."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Blueprint, Response, request

from sollol.api.responses import json_response
from sollol.api.services import services
from sollol.state.snapshot import HostView, host_state

__all__ = ["bp"]

bp = Blueprint("fleet", __name__)


@bp.get("/api/health")
def health() -> Response:
    """200 while Redis answers (with the fleet's host counts); 503 with the reason when it does not."""
    svc = services()
    try:
        svc.redis.ping()
    except Exception as exc:
        return json_response(
            {"status": "unavailable", "redis": False, "error": f"Redis unreachable: {exc}"},
            status=503,
        )
    views = svc.fleet.views()
    healthy = sum(1 for v in views if v.record.alive and v.record.ollama_ok)
    return json_response(
        {
            "status": "ok" if healthy else "no healthy hosts",
            "redis": True,
            "hosts": {"healthy": healthy, "total": len(views)},
            "snapshot_age_ms": round(svc.fleet.age_s() * 1000, 1),
        }
    )


@bp.get("/api/fleet")
def fleet() -> Response:
    """Every host with its state, models, load and learned rates (what the router sees)."""
    svc = services()
    now = time.time()
    views = svc.fleet.views()
    return json_response(
        {
            "strategy": svc.router.strategy,
            "time": now,
            "snapshot_age_ms": round(min(svc.fleet.age_s(), 86_400) * 1000, 1),
            "queue_wait_ms": _waits(svc),
            "hosts": [_host(v, now) for v in views],
        }
    )


def _waits(svc: Any) -> dict[str, dict[str, float]]:
    """Recent queue waits per priority (last 500 answered requests of each): p50, p95, max, n."""
    pipe = svc.redis.pipeline(transaction=False)
    for p in range(1, 11):
        pipe.lrange(svc.cfg.key("waits", p), 0, -1)
    out = {}
    for p, raw in zip(range(1, 11), pipe.execute(), strict=True):
        values = sorted(float(v) for v in raw)
        if values:
            out[str(p)] = {
                "p50": values[len(values) // 2],
                "p95": values[min(len(values) - 1, int(len(values) * 0.95))],
                "max": values[-1],
                "n": len(values),
            }
    return out


def _host(view: HostView, now: float) -> dict[str, Any]:
    rec, state = view.record, host_state(view, now)
    return {
        "name": rec.name,
        "url": rec.url,
        "worker": rec.worker,
        "machine": rec.machine,
        "health": state.health,
        "circuit": state.circuit,
        "reason": view.reason,
        "version": rec.version,
        "slots": rec.slots,
        "vram_mb": rec.vram_mb,
        "tags": sorted(state.tags),
        "seen_s_ago": round(now - rec.seen_at, 1),
        "installed": sorted(state.installed),
        "loaded": [m.name for m in state.loaded],
        "running": state.running,
        "queued": list(state.queued),
        "stats": {
            m: {
                "prompt_tps": s.prompt_tps,
                "gen_tps": s.gen_tps,
                "load_s": s.load_s,
                "success_rate": s.success_rate,
                "samples": s.samples,
            }
            for m, s in state.stats.items()
        },
    }


@bp.get("/api/decisions")
def decisions() -> Response:
    """The most recent routing decisions, newest first (``?limit=N``, at most decisions_kept)."""
    svc = services()
    try:
        limit = max(1, min(int(request.args.get("limit", 50)), svc.cfg.decisions_kept))
    except ValueError:
        limit = 50
    raw = svc.redis.lrange(svc.cfg.key("decisions"), 0, limit - 1)
    return json_response({"decisions": [json.loads(r) for r in raw]})


@bp.get("/api/alerts")
def alerts() -> Response:
    """Host state changes recorded by beat's health rounds, newest first."""
    svc = services()
    raw = svc.redis.lrange(svc.cfg.key("alerts"), 0, 99)
    return json_response({"alerts": [json.loads(r) for r in raw]})


@bp.get("/dashboard")
def dashboard() -> Response:
    """A live view of hosts, queues, decisions and alerts (polls the JSON endpoints every second)."""
    from importlib.resources import files

    html = files("sollol.api").joinpath("static/dashboard.html").read_text(encoding="utf-8")
    return Response(html, content_type="text/html; charset=utf-8")


@bp.get("/openapi.json")
def openapi() -> Response:
    """The gateway's OpenAPI description (also used by the schemathesis tests)."""
    from importlib.resources import files

    import yaml

    spec = yaml.safe_load(files("sollol.api").joinpath("openapi.yaml").read_text(encoding="utf-8"))
    return json_response(spec)
