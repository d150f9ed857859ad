"""The placement beat job (``Task.PLACEMENT``, every ``placement_interval_s``): pre-load hot
models on hosts that have them installed and room, and let the copies expire when demand falls.

Reads the fleet and the gateway's recent decision records (the last ``placement_window_s``
seconds), asks :func:`sollol.router.placement.plan` (pure), and sends each placement as a
load-only request — ``/api/generate`` with no prompt and ``keep_alive`` =
``placement_keep_alive_s`` — through the chosen host's own queue (``Task.MODEL_OP``, op
``load``); unused, the copy unloads when its keep-alive runs out. Each placement is an entry in
``/api/alerts``; the whole last plan, placed or not and why, is kept under ``<prefix>placement``.
Off unless ``placement_enabled`` (on shifting demand it did not lower p99 below the router's own
cold loads).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from celery import Celery

from sollol.router.placement import Placement, demands_from, plan
from sollol.state.health import record_alert
from sollol.state.queues import kombu_priority
from sollol.state.snapshot import read_fleet, snapshot_of
from sollol.wire import ModelOp, Task
from sollol.workers.context import get_context

__all__ = ["register", "run_placement"]

log = logging.getLogger("sollol.beat")


COOLING_ROUNDS = 3  # rounds a placed model is left alone (its load, then a fresh window)


def register(app: Celery) -> None:
    """Register the placement task on ``app`` (beat.py schedules it)."""

    @app.task(shared=False, name=Task.PLACEMENT, ignore_result=True)
    def placement() -> int:
        return run_placement(app)


def run_placement(app: Celery) -> int:
    """One placement round; returns how many pre-loads were sent."""
    cfg = app.sollol_config
    if not cfg.placement_enabled:
        return 0
    redis = get_context(cfg).redis
    now = time.time()
    snapshot = snapshot_of(read_fleet(redis, cfg, now), now)
    calls = [json.loads(raw) for raw in redis.lrange(cfg.key("decisions"), 0, -1)]
    demands = demands_from(calls, snapshot, now, cfg.placement_window_s)
    cooling_key = cfg.key("placement", "cooling")
    cooling = frozenset(redis.zrangebyscore(cooling_key, now, "+inf"))
    decisions = plan(snapshot, demands, cfg.placement_wait_threshold_s, cooling=cooling)
    redis.set(cfg.key("placement"), json.dumps(_plan_record(decisions, now)), ex=3600)
    for d in decisions:
        if d.host:
            _preload(app, d)
            # until its copy is resident and has absorbed some of the wait: not again
            redis.zadd(cooling_key, {d.model: now + COOLING_ROUNDS * cfg.placement_interval_s})
            record_alert(redis, cfg, d.host, "placement", f"pre-load {d.model}", d.reason)
            log.info("placement: %s", d.reason)
    return sum(1 for d in decisions if d.host)


def _preload(app: Celery, d: Placement) -> None:
    cfg = app.sollol_config
    keep = f"{int(cfg.placement_keep_alive_s)}s"
    op = ModelOp(
        "load", {"model": d.model, "keep_alive": keep}, d.host, cfg.key("placed", uuid.uuid4().hex)
    )
    app.send_task(
        Task.MODEL_OP,
        args=[op.stream.rsplit(":", 1)[-1], op.to_json()],
        queue=d.host,
        routing_key=d.host,
        priority=kombu_priority(9),
        expires=max(1.0, cfg.placement_interval_s),
        ignore_result=True,
    )


def _plan_record(decisions: list[Placement], now: float) -> dict[str, Any]:
    rows = [
        {
            "model": d.model,
            "host": d.host,
            "predicted_wait_s": min(d.predicted_wait_s, 1e9),
            "reason": d.reason,
        }
        for d in decisions
    ]
    return {"ts": now, "decisions": rows}
