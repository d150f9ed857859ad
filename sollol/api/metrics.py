"""Prometheus metrics at /metrics: HTTP metrics (prometheus-flask-exporter) plus SOLLOL's own.

Counters and histograms are updated when a call finishes (:meth:`Metrics.observe`); fleet gauges
(host state, queue depth per priority, running requests, recent latency and success rate) are
computed at scrape time from the fleet snapshot and the decision log, which every gateway shares
through Redis. The original SOLLOL's names are kept: ``sollol_request_latency_seconds``,
``sollol_host_latency_ms``, ``sollol_host_success_rate``, ``sollol_worker_failures_total``,
``sollol_active_requests``.

Several gunicorn workers: prometheus_client's multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``,
set up by :mod:`sollol.api.gunicorn_conf`) sums the counters of every worker process, so any
worker's /metrics — and the ``metrics_port`` server in gunicorn's master — shows the whole
gateway. Scrape-time collectors are computed once per scrape, not summed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from flask import Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.registry import REGISTRY, Collector
from prometheus_flask_exporter import PrometheusMetrics

__all__ = ["FleetCollector", "Metrics", "init_metrics", "scrape_registry"]

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_TPS_BUCKETS = (1, 2, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000, 2000, 5000)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client itself


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
        self.latency = Histogram(  # the original SOLLOL's name for the same measurement
            "sollol_request_latency_seconds",
            "Client-visible latency of routed requests (the original SOLLOL's name)",
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
        self.failures = Counter(
            "sollol_worker_failures_total", "Requests that ended in an error on a host", ["host"]
        )
        self.ttft = Histogram(
            "sollol_time_to_first_token_seconds",
            "From the request's arrival to its first generated token",
            ["host", "model"],
            buckets=_BUCKETS,
        )
        self.tokens_per_second = Histogram(
            "sollol_tokens_per_second",
            "Generation speed Ollama reported for a request (eval_count / eval_duration)",
            ["host", "model"],
            buckets=_TPS_BUCKETS,
        )

    @classmethod
    def get(cls) -> Metrics:
        if cls._instance is None:
            cls._instance = Metrics()
        return cls._instance

    def observe(self, entry: Mapping[str, Any]) -> None:
        """Count one finished call (a decision-log entry; ``ttft_ms``, ``eval_count`` and
        ``eval_duration_ns`` are used when the gateway recorded them)."""
        host = entry["host"] or "none"
        self.requests.labels(entry["endpoint"], host, entry["outcome"]).inc()
        seconds = entry["actual_ms"] / 1000
        self.duration.labels(entry["endpoint"]).observe(seconds)
        self.latency.labels(entry["endpoint"]).observe(seconds)
        if entry["queue_wait_ms"]:
            self.queue_wait.labels(str(entry["priority"])).observe(entry["queue_wait_ms"] / 1000)
        if entry["attempts"] > 1:
            self.failovers.inc(entry["attempts"] - 1)
        if entry["outcome"] == "error" and entry["host"]:
            self.failures.labels(host).inc()
        model = str(entry.get("model") or "")
        if entry.get("ttft_ms"):
            self.ttft.labels(host, model).observe(entry["ttft_ms"] / 1000)
        if entry.get("eval_count") and entry.get("eval_duration_ns"):
            tps = entry["eval_count"] / (entry["eval_duration_ns"] / 1e9)
            self.tokens_per_second.labels(host, model).observe(tps)


def _recent_by_host(decisions: Sequence[Mapping[str, Any]]) -> dict[str, tuple[float, float]]:
    """host → (mean latency ms of answered requests, share answered) over the decision log."""
    out: dict[str, tuple[float, float]] = {}
    hosts = {d.get("host") for d in decisions if d.get("host")}
    for host in hosts:
        mine = [d for d in decisions if d.get("host") == host]
        ok = [float(d["actual_ms"]) for d in mine if d.get("outcome") == "ok"]
        out[str(host)] = (sum(ok) / len(ok) if ok else 0.0, len(ok) / len(mine))
    return out


class FleetCollector(Collector):
    """Fleet gauges read from the gateway's snapshot and decision log at scrape time."""

    def __init__(
        self,
        views: Callable[[], list[Any]],
        decisions: Callable[[], list[dict[str, Any]]] = list,
    ) -> None:
        self.views = views  # () -> list[HostView]
        self.decisions = decisions  # () -> recent decision-log entries, newest first

    def collect(self) -> Iterator[Metric]:
        from sollol.state.snapshot import host_success_rate

        def gauge(name: str, doc: str, labels: Sequence[str] = ()) -> GaugeMetricFamily:
            return GaugeMetricFamily(name, doc, labels=list(labels))

        up = gauge("sollol_host_up", "1 if the host is healthy or degraded", ["host"])
        state = gauge("sollol_host_state", "1 for the host's current state", ["host", "state"])
        running = gauge("sollol_host_running", "Requests executing", ["host"])
        depth = gauge("sollol_queue_depth", "Messages waiting, per priority", ["host", "priority"])
        latency = gauge(
            "sollol_host_latency_ms",
            "Mean latency of the host's recent answered requests",
            ["host"],
        )
        success = gauge(
            "sollol_host_success_rate", "Share of recent requests answered (0..1)", ["host"]
        )
        active = gauge("sollol_active_requests", "Requests executing on the whole fleet")
        try:
            views, recent = self.views(), _recent_by_host(self.decisions())
        except Exception:  # Redis away: no fleet gauges in this scrape rather than a 500
            views, recent = [], {}
        total = 0
        for v in views:
            name = v.record.name
            busy = sum(v.running.values())
            total += busy
            up.add_metric([name], 0 if v.health == "down" else 1)
            state.add_metric([name, v.health], 1)
            running.add_metric([name], busy)
            for p, n in enumerate(v.queued, 1):
                depth.add_metric([name, str(p)], n)
            mean_ms, share_ok = recent.get(name, (0.0, host_success_rate(v.stats)))
            latency.add_metric([name], round(mean_ms, 1))
            success.add_metric([name], round(share_ok, 4))
        active.add_metric([], total)
        yield from (up, state, running, depth, latency, success, active)


class _ScrapeTime(Collector):
    """The default registry's scrape-time collectors (fleet, batch jobs, process), without its
    per-process metric objects, which the multiprocess collector sums from the files instead."""

    def collect(self) -> Iterator[Metric]:
        # prometheus_client has no public listing of a registry's collectors
        for collector in list(REGISTRY._collector_to_names):
            if not isinstance(collector, MetricWrapperBase):
                yield from collector.collect()


def multiprocess() -> bool:
    """True when this process writes its metrics to PROMETHEUS_MULTIPROC_DIR (gunicorn, N workers)."""
    return bool(os.environ.get(MULTIPROC_ENV))


def scrape_registry() -> CollectorRegistry:
    """What /metrics (and the metrics_port server) exposes: the process registry, or in
    multiprocess mode every worker's counters summed plus the scrape-time collectors."""
    if not multiprocess():
        return REGISTRY
    from prometheus_client import multiprocess as mp

    registry = CollectorRegistry()
    mp.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(_ScrapeTime())
    return registry


_collector: FleetCollector | None = None


def register_fleet_collector(collector: FleetCollector) -> None:
    """Make ``collector`` the process's fleet collector (replacing an earlier app's)."""
    global _collector  # noqa: PLW0603 - prometheus_client's registry is process-global too
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = collector
    REGISTRY.register(collector)


def init_metrics(app: Flask, views: Callable[[], list[Any]]) -> Metrics | None:
    """Expose /metrics on ``app`` and collect fleet gauges; None when metrics are disabled."""
    svc = app.extensions["sollol"]
    if not svc.cfg.metrics_enabled:
        return None
    PrometheusMetrics(
        app,
        path=None,  # /metrics is served below, from the scrape registry
        group_by="endpoint",
        default_labels={},
        registry=REGISTRY,
        excluded_paths=["/metrics"],
    )

    def decisions() -> list[dict[str, Any]]:
        raw = svc.redis.lrange(svc.cfg.key("decisions"), 0, svc.cfg.decisions_kept - 1)
        return [json.loads(r) for r in raw]

    register_fleet_collector(FleetCollector(views, decisions))
    from sollol.api.batch_metrics import register_batch_metrics  # jobs, docs, chunk latency

    register_batch_metrics(svc.redis, svc.cfg)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)

    return Metrics.get()
