"""The Celery application: one configuration for gateway, workers, beat and Flower.

Every process must agree on ``broker_transport_options`` (priority steps, separator): a producer
and a consumer that disagree strand messages in lists nobody reads (docs/celery-on-redis.md §1.2).
Hence one function, :func:`celery_settings`, builds them from :class:`SOLLOLConfig` everywhere.

No app is built at import time here: :func:`make_celery` builds one for whoever needs it (the
gateway, tests, embedding), and :mod:`sollol.celery` builds the one ``celery -A sollol`` finds.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from sollol.config import ConfigError, SOLLOLConfig, load_config
from sollol.state.connection import celery_redis_settings, redbeat_redis_settings
from sollol.wire import CONTROL_QUEUE

__all__ = ["CONTROL_QUEUE", "celery_settings", "make_celery"]


def celery_settings(cfg: SOLLOLConfig) -> dict[str, Any]:
    """Celery settings derived from SOLLOL's config (reasons: docs/celery-on-redis.md)."""
    transport = {
        "priority_steps": list(range(10)),  # ten real levels; SOLLOL p maps to 10 - p
        "queue_order_strategy": "priority",
        # Live workers renew their unacked messages on every heartbeat, so a short timeout
        # restores a killed worker's message within seconds without ever duplicating a long one.
        "visibility_timeout": cfg.visibility_timeout_s,
        "unacked_restore_interval": cfg.unacked_restore_interval_s,
        "unacked_restore_throttle": 1,
        "health_check_interval": 10,
        "socket_keepalive": True,
    }
    return {
        # broker (SOLLOL's kombu transport), result backend: one Redis, plain or behind sentinels
        **celery_redis_settings(cfg, transport, {"visibility_timeout": cfg.visibility_timeout_s}),
        "visibility_timeout": cfg.visibility_timeout_s,
        "broker_connection_retry_on_startup": True,
        "broker_connection_max_retries": None,  # a Redis restart is a normal event: retry forever
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_default_priority": 5,  # kombu level 5 = SOLLOL priority 5; unset would mean 0 = highest
        "task_default_queue": CONTROL_QUEUE,
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "task_ignore_result": True,
        "worker_prefetch_multiplier": 1,
        "worker_pool": "threads",  # requests are I/O-bound HTTP calls to the local Ollama
        "worker_concurrency": cfg.worker_slots,
        "worker_send_task_events": cfg.task_events,  # 3 publishes per task; Flower enables them
        "worker_hijack_root_logger": False,
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "result_expires": 3600,
        "beat_max_loop_interval": 5,
        "timezone": "UTC",
        **_beat_settings(cfg),
    }


def _beat_settings(cfg: SOLLOLConfig) -> dict[str, Any]:
    """celery-redbeat when asked: a Redis lock keeps one active beat; a standby takes over."""
    if cfg.beat_scheduler in ("", "default"):
        return {}
    if cfg.beat_scheduler != "redbeat":
        raise ConfigError(f"unknown beat_scheduler {cfg.beat_scheduler!r}: use '' or 'redbeat'")
    return {
        "beat_scheduler": "redbeat.RedBeatScheduler",
        **redbeat_redis_settings(cfg),
        "redbeat_key_prefix": cfg.key("redbeat"),
        "redbeat_lock_timeout": cfg.redbeat_lock_timeout_s,
    }


def make_celery(cfg: SOLLOLConfig | None = None) -> Celery:
    """A Celery app with SOLLOL's settings and tasks registered."""
    cfg = cfg or load_config()
    celery = Celery("sollol", set_as_current=False)
    celery.conf.update(celery_settings(cfg))
    celery.sollol_config = cfg
    from sollol.workers import beat, tasks

    tasks.register(celery)
    beat.register(celery)
    return celery
