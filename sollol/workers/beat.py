"""Periodic fleet jobs: Celery beat schedules them, the control worker (queue ``sollol``) runs them.

sollol.health_round   every health_check_interval_s: send a health check through every host's
                      own queue (so it tests queue + worker + Ollama, never loading a model),
                      then record host state changes as alerts
sollol.health_check   runs ON the host's worker: HEAD /, /api/version, /api/ps; its result
                      feeds the circuit breaker (the probes of a half-open circuit)
sollol.age_queues     every aging_interval_s: promote messages waiting longer than aging_step_s
sollol.reroute        every reroute_interval_s: move messages off dead hosts' queues
sollol.refresh        every metrics_refresh_interval_s: forget hosts whose record expired
sollol.batch.tick     every autobatch_interval_s: batch embedding rounds (workers/batch.py)
sollol.placement      every placement_interval_s: pre-load hot models (workers/placement.py)
"""

from __future__ import annotations

import logging
import random
import time
from datetime import timedelta
from typing import Any

from celery import Celery, schedules

from sollol.config import SOLLOLConfig
from sollol.router import (
    MissingCapability,
    NoHostAvailable,
    RequestProfile,
    Router,
    Tuning,
    required_capabilities,
)
from sollol.state.aging import age_queue
from sollol.state.circuit import record_failure, record_success
from sollol.state.health import publish_check, record_alert, record_check
from sollol.state.overrides import effective_config
from sollol.state.queues import kombu_priority, priority_list_keys
from sollol.state.registry import host_names
from sollol.state.reroute import move, waiting_messages
from sollol.state.snapshot import HostView, read_fleet, snapshot_of
from sollol.wire import CONTROL_QUEUE, Job, Task
from sollol.workers.context import get_context

__all__ = ["register", "reroute_router"]

log = logging.getLogger("sollol.beat")


def register(app: Celery) -> None:
    """Register the beat jobs and their schedule on ``app``."""
    cfg = app.sollol_config

    @app.task(shared=False, name=Task.HEALTH_ROUND, ignore_result=True)
    def health_round() -> int:
        return _health_round(app)

    @app.task(shared=False, name=Task.HEALTH_CHECK, ignore_result=True, acks_late=False)
    def health_check() -> bool:
        return _health_check(app)

    @app.task(shared=False, name=Task.AGE_QUEUES, ignore_result=True)
    def age_queues() -> int:
        ctx = get_context(cfg)
        now = time.time()
        return sum(
            age_queue(ctx.redis, h, now, cfg.aging_step_s) for h in host_names(ctx.redis, cfg)
        )

    @app.task(shared=False, name=Task.REROUTE, ignore_result=True)
    def reroute() -> int:
        return _reroute(app)

    @app.task(shared=False, name=Task.REFRESH, ignore_result=True)
    def refresh() -> int:
        return _forget_expired(app)

    live = _live_settings(cfg)

    def every(seconds: float, task: str, setting: str = "") -> dict[str, Any]:
        return {
            "task": task,
            "schedule": LiveInterval(live, setting) if setting else seconds,
            "options": {
                "queue": CONTROL_QUEUE,
                "expires": max(1.0, seconds),
                "priority": kombu_priority(10),
            },
        }

    app.conf.beat_schedule = {
        "health": every(cfg.health_check_interval_s, Task.HEALTH_ROUND, "health_check_interval_s"),
        "aging": every(cfg.aging_interval_s, Task.AGE_QUEUES),
        "reroute": every(cfg.reroute_interval_s, Task.REROUTE),
        "refresh": every(
            cfg.metrics_refresh_interval_s, Task.REFRESH, "metrics_refresh_interval_s"
        ),
        # workers/batch.py
        "autobatch": every(cfg.autobatch_interval_s, Task.BATCH_TICK, "autobatch_interval_s"),
        "placement": every(cfg.placement_interval_s, Task.PLACEMENT),  # workers/placement.py
    }
    from sollol.workers import placement

    placement.register(app)


def _live_settings(cfg: Any) -> Any:
    """The beat's settings with the overrides in Redis (``SOLLOL.update_config``) applied,
    re-read at most once a second; the beat starts even when Redis does not answer yet."""
    from sollol.state.connection import connect
    from sollol.state.overrides import LiveConfig

    return LiveConfig(connect(cfg, socket_timeout=2, socket_connect_timeout=2), cfg)


class LiveInterval(schedules.schedule):  # type: ignore[misc]
    """A fixed-interval beat schedule whose interval is a live setting: changed through Redis,
    it takes effect at the next due check, without restarting beat."""

    def __init__(self, live: Any, setting: str) -> None:
        self.live, self.setting = live, setting
        super().__init__(run_every=getattr(live.base, setting))

    @property
    def run_every(self) -> timedelta:
        return timedelta(seconds=float(getattr(self.live.current(), self.setting)))

    @run_every.setter
    def run_every(self, _value: Any) -> None:  # celery's __init__ sets it; the setting rules
        pass

    def __reduce__(self) -> Any:
        # the file scheduler shelves entries: store a plain interval (the config's live one
        # replaces it when beat starts again)
        return (schedules.schedule, (self.run_every,))


def _health_round(app: Celery) -> int:
    cfg = app.sollol_config
    ctx = get_context(cfg)
    now = time.time()
    views = read_fleet(ctx.redis, cfg, now)
    for view in views:
        _send_check(app, view, now)
        _note_state(ctx.redis, cfg, view)
    return len(views)


def _send_check(app: Celery, view: HostView, now: float) -> None:
    """At most one health check waits in a host's queue (state/health.py: publish_check)."""
    cfg = app.sollol_config
    name = view.record.name

    def send(expires_s: float) -> None:
        app.send_task(
            Task.HEALTH_CHECK,
            queue=name,
            routing_key=name,
            priority=kombu_priority(10),
            expires=expires_s,
            ignore_result=True,
        )

    top = priority_list_keys(name)[9]  # where priority-10 messages wait
    publish_check(get_context(cfg).redis, cfg, name, top, view.check, now, send)


def _note_state(redis: Any, cfg: Any, view: HostView) -> None:
    key = cfg.key("hoststate", view.record.name)
    new = f"{view.health}|{view.reason}"
    old = redis.getset(key, new)
    redis.expire(key, 86_400)
    old_state = (old or "").split("|", 1)[0]
    if old_state != view.health:
        record_alert(redis, cfg, view.record.name, old_state or "new", view.health, view.reason)
        log.warning(
            "host %s: %s -> %s %s", view.record.name, old_state or "new", view.health, view.reason
        )


def _health_check(app: Celery) -> bool:
    """Cheap probes of the local Ollama that never load a model."""
    ctx = get_context(app.sollol_config)
    if not ctx.host:
        return False
    started = time.monotonic()
    try:
        ctx.ollama.head("/")
        ctx.ollama.get_json("/api/version")
        ctx.ollama.get_json("/api/ps")
    except Exception as exc:
        record_check(
            ctx.redis, ctx.cfg, ctx.host, False, (time.monotonic() - started) * 1000, str(exc)
        )
        record_failure(ctx.redis, ctx.cfg, ctx.host, f"health check: {exc}", time.time())
        return False
    record_check(ctx.redis, ctx.cfg, ctx.host, True, (time.monotonic() - started) * 1000)
    # health checks are the circuit breaker's probes: a half-open host with no traffic recovers
    record_success(ctx.redis, ctx.cfg, ctx.host, time.time(), probe=True)
    return True


def reroute_router(redis: Any, cfg: SOLLOLConfig) -> Router:
    """The router beat moves messages with: the gateways' strategy, live overrides included."""
    live = effective_config(redis, cfg)
    return Router(live.strategy, rng=random.Random(), tuning=Tuning().scaled(live.time_scale))


def _reroute(app: Celery) -> int:
    """Move messages waiting on down hosts to the best healthy host for each."""

    cfg = app.sollol_config
    ctx = get_context(cfg)
    now = time.time()
    views = read_fleet(ctx.redis, cfg, now)
    down = {v.record.name for v in views if v.health == "down"}
    if not down:
        return 0
    snapshot = snapshot_of(views, now)
    router = reroute_router(ctx.redis, cfg)
    moved = 0
    for view in views:
        if view.record.name not in down or not sum(view.queued):
            continue
        for msg in waiting_messages(ctx.redis, view.record.name):
            job = Job.from_json(msg.job)
            profile = RequestProfile(
                model=job.model,
                endpoint=job.endpoint,
                task_type=job.task_type,
                priority=job.priority,
                needs=required_capabilities(job.endpoint, job.body),  # tools, vision, thinking
            )
            try:
                decision = router.route(profile, snapshot, exclude=down)
            except (NoHostAvailable, MissingCapability):
                continue
            if move(ctx.redis, msg, decision.host):
                moved += 1
                log.warning(
                    "moved request %s from down host %s to %s",
                    msg.request_id,
                    view.record.name,
                    decision.host,
                )
    return moved


def _forget_expired(app: Celery) -> int:
    """Drop hosts whose record expired (a day without heartbeat) from the host set."""
    cfg = app.sollol_config
    ctx = get_context(cfg)
    gone = [n for n in host_names(ctx.redis, cfg) if not ctx.redis.exists(cfg.key("host", n))]
    if gone:
        ctx.redis.srem(cfg.key("hosts"), *gone)
    return len(gone)
