"""The registry gunicorn's master serves on ``metrics_port``: every worker's counters summed
(multiprocess files) plus the fleet gauges, read from Redis by the master itself."""

from __future__ import annotations

import json
from typing import Any

from prometheus_client import CollectorRegistry

from sollol.config import SOLLOLConfig

__all__ = ["scrape_registry_for_master"]


def _client(cfg: SOLLOLConfig) -> Any:
    from sollol.state.connection import connect

    return connect(cfg)


def scrape_registry_for_master(cfg: SOLLOLConfig) -> CollectorRegistry:
    """A registry for the master process, which has no Flask app of its own. The fleet is read
    once per scrape (no background thread: the master forks workers)."""
    from sollol.api.metrics import FleetCollector, register_fleet_collector, scrape_registry
    from sollol.state.snapshot import read_fleet

    redis = _client(cfg)

    def decisions() -> list[dict[str, Any]]:
        raw = redis.lrange(cfg.key("decisions"), 0, cfg.decisions_kept - 1)
        return [json.loads(r) for r in raw]

    register_fleet_collector(FleetCollector(lambda: read_fleet(redis, cfg), decisions))
    try:  # batch job gauges, when this gateway has them
        from sollol.api.batch_metrics import register_batch_metrics

        register_batch_metrics(redis, cfg)
    except ImportError:
        pass
    return scrape_registry()
