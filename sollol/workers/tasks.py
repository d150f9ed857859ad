"""Celery tasks and worker lifecycle hooks. Tasks are thin: JSON-safe ids and values in, work in runner."""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery, signals

from sollol.names import InvalidHostName, validate_host_name
from sollol.wire import CONTROL_QUEUE, Task
from sollol.workers.context import get_context
from sollol.workers.heartbeat import BackgroundLoops
from sollol.workers.runner import run_job

__all__ = ["register"]

log = logging.getLogger("sollol.worker")
_loops: list[BackgroundLoops] = []


def register(app: Celery) -> None:
    """Register SOLLOL's tasks and worker hooks on ``app``."""

    @app.task(
        shared=False,
        name=Task.INFER,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=True,
    )
    def infer(self: Any, request_id: str, job: dict[str, Any]) -> str:
        """Run one client request on this worker's Ollama; output goes to the request stream."""
        return run_job(get_context(app.sollol_config), request_id, job)

    from sollol.workers import batch  # embed chunks, chord bodies, the autobatch tick

    batch.register(app)

    from sollol.workers import models  # pull, push, create, copy, delete on this host

    models.register(app)

    @signals.worker_ready.connect(weak=False)
    def _on_ready(sender: Any = None, **_: Any) -> None:
        if sender is None or sender.app is not app:
            return
        sys.setswitchinterval(app.sollol_config.switch_interval_ms / 1000)
        host = _host_of(app, sender)
        if not host:
            log.info("SOLLOL control worker ready (queue %r)", CONTROL_QUEUE)
            return
        pool = str(getattr(sender.controller, "pool_cls", "") or app.conf.worker_pool)
        if "prefork" in pool.lower() or "processes" in pool.lower():
            log.warning(
                "SOLLOL workers need the threads pool (the default, -P threads): with "
                "prefork, heartbeats cannot see requests running in child processes"
            )
        ctx = get_context(app.sollol_config)
        ctx.host, ctx.worker_name = host, sender.hostname
        loops = BackgroundLoops(ctx, requests_held=_held_delivery_tags)
        loops.start()
        _loops.append(loops)
        log.info(
            "SOLLOL worker for host %r ready: Ollama at %s, %d slots",
            host,
            ctx.cfg.ollama_url,
            ctx.cfg.worker_slots,
        )

    @signals.worker_shutting_down.connect(weak=False)
    def _on_shutdown(**_: Any) -> None:
        while _loops:
            _loops.pop().stop()


def _host_of(app: Celery, consumer: Any) -> str:
    """The host this worker serves: SOLLOL_HOST_NAME, else its one non-control queue (``-Q host-a``)."""
    cfg = app.sollol_config
    if cfg.host_name:
        return validate_host_name(cfg.host_name)
    selected = app.amqp.queues.consume_from or {}
    hosts = [q for q in selected if q != CONTROL_QUEUE]
    if len(hosts) > 1:
        log.warning("worker consumes several host queues %s; registering %r only", hosts, hosts[0])
    if not hosts:
        return ""
    try:
        return validate_host_name(hosts[0])
    except InvalidHostName as exc:
        raise SystemExit(f"SOLLOL: {exc}") from None


def _held_delivery_tags() -> list[str]:
    """kombu delivery tags of every message this worker has reserved or is executing."""
    from celery.worker import state

    held = list(state.reserved_requests) + list(state.active_requests)
    tags = (getattr(getattr(r, "_message", None), "delivery_tag", None) for r in held)
    return [str(t) for t in tags if t]
