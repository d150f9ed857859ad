"""Prometheus metrics at /metrics: HTTP metrics (prometheus-flask-exporter) plus SOLLOL's own.

Counters and histograms are updated when a call finishes; fleet gauges (host state, queue depth
per priority, running requests) are computed at scrape time from the gateway's fleet snapshot.
Run one gunicorn worker per gateway (the default), or set PROMETHEUS_MULTIPROC_DIR.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from flask import Flask
from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY, Collector
from prometheus_flask_exporter import PrometheusMetrics

__all__ = ["Metrics", "init_metrics"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    """SOLLOL's request-level metrics (process-wide singletons: prometheus_client's registry is global)."""

    _instance: Metrics | None = None

    def __init__(self) -> None:
        self.requests = Counter(
            "sollol_requests_total", "Routed requests by outcome", ["endpoint", "host", "outcome"]
        )
        self.duration = Histogram(
            "sollol_request_duration_seconds",
            "Client-visible duration of routed requests",
            ["endpoint"],
            buckets=_BUCKETS,
        )
        self.queue_wait = Histogram(
            "sollol_queue_wait_seconds",
            "Time from publish to a worker starting the request",
            ["priority"],
            buckets=_BUCKETS,
        )
        self.failovers = Counter("sollol_failovers_total", "Attempts moved to another host")

    @classmethod
    def get(cls) -> Metrics:
        if cls._instance is None:
            cls._instance = Metrics()
        return cls._instance

    def observe(self, entry: dict[str, Any]) -> None:
        self.requests.labels(entry["endpoint"], entry["host"] or "none", entry["outcome"]).inc()
        self.duration.labels(entry["endpoint"]).observe(entry["actual_ms"] / 1000)
        if entry["queue_wait_ms"]:
            self.queue_wait.labels(str(entry["priority"])).observe(entry["queue_wait_ms"] / 1000)
        if entry["attempts"] > 1:
            self.failovers.inc(entry["attempts"] - 1)


class FleetCollector(Collector):
    """Fleet gauges read from the gateway's snapshot at scrape time."""

    def __init__(self, views: Any) -> None:
        self.views = views  # () -> list[HostView]

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily(
            "sollol_host_up", "1 if the host is healthy or degraded", labels=["host"]
        )
        state = GaugeMetricFamily(
            "sollol_host_state", "1 for the host's current state", labels=["host", "state"]
        )
        running = GaugeMetricFamily("sollol_host_running", "Requests executing", labels=["host"])
        depth = GaugeMetricFamily(
            "sollol_queue_depth", "Messages waiting, per priority", labels=["host", "priority"]
        )
        try:
            views = self.views()
        except Exception:
            views = []
        for v in views:
            name = v.record.name
            up.add_metric([name], 0 if v.health == "down" else 1)
            state.add_metric([name, v.health], 1)
            running.add_metric([name], sum(v.running.values()))
            for p, n in enumerate(v.queued, 1):
                depth.add_metric([name, str(p)], n)
        yield from (up, state, running, depth)


_collector: FleetCollector | None = None


def init_metrics(app: Flask, views: Any) -> Metrics:
    """Expose /metrics on ``app`` and start collecting fleet gauges from ``views``."""
    global _collector  # noqa: PLW0603 - prometheus_client's registry is process-global too
    PrometheusMetrics(
        app, group_by="endpoint", default_labels={}, registry=REGISTRY, excluded_paths=["/metrics"]
    )
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = FleetCollector(views)
    REGISTRY.register(_collector)
    svc = app.extensions.get("sollol")
    if svc is not None:  # batch jobs, docs and chunk latency (api/batch_metrics.py)
        from sollol.api.batch_metrics import register_batch_metrics

        register_batch_metrics(svc.redis, svc.cfg)
    return Metrics.get()
