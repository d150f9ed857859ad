"""SOLLOL inside another Python application: ``from sollol import SOLLOL, SOLLOLConfig``."""

from __future__ import annotations

import random
import time
from typing import Any

from sollol.config import SOLLOLConfig, load_config

__all__ = ["SOLLOL"]


class SOLLOL:
    """One SOLLOL deployment as seen from code: its gateway app, fleet view and router.

    ``SOLLOL(redis_url="redis://...").app()`` is the WSGI gateway to mount or serve;
    ``.fleet()`` and ``.route()`` answer "where would this request go, and why" without sending it.
    """

    def __init__(self, config: SOLLOLConfig | None = None, **overrides: Any) -> None:
        self.config = config.replace(**overrides) if config else load_config(**overrides)
        self._redis: Any = None

    @property
    def redis(self) -> Any:
        if self._redis is None:
            import redis

            self._redis = redis.Redis.from_url(self.config.redis_url or "redis://127.0.0.1:6379/0")
        return self._redis

    def app(self) -> Any:
        """The Flask gateway (WSGI) for this configuration."""
        from sollol.api import create_app

        return create_app(self.config)

    def celery(self) -> Any:
        """The Celery app workers, beat and Flower use for this configuration."""
        from sollol.workers.celery_app import make_celery

        return make_celery(self.config)

    def fleet(self) -> Any:
        """The fleet as the router sees it right now (a router FleetSnapshot)."""
        from sollol.state.snapshot import read_fleet, read_output_tokens, snapshot_of

        now = time.time()
        return snapshot_of(
            read_fleet(self.redis, self.config, now),
            now,
            read_output_tokens(self.redis, self.config),
        )

    def route(
        self,
        endpoint: str,
        body: dict[str, Any],
        priority: int | None = None,
        strategy: str | None = None,
    ) -> Any:
        """The routing Decision for a native request body, without sending it."""
        from sollol.router import Router, analyse_request

        profile = analyse_request(endpoint, body, priority or self.config.default_priority)
        router = Router(strategy or self.config.strategy, rng=random.Random())
        return router.route(profile, self.fleet())
