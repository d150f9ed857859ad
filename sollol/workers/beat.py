"""Periodic fleet jobs run by Celery beat (health checks, metric refresh, aging, re-routing)."""

from __future__ import annotations

from celery import Celery

__all__ = ["register"]


def register(app: Celery) -> None:
    """Register beat jobs and the schedule on ``app``."""
    app.conf.beat_schedule = {}
