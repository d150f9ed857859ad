"""Prometheus metrics of batch embedding jobs, computed at scrape time from Redis.

    sollol_batch_docs_total                  counter    vectors stored by every worker, ever
    sollol_batch_jobs{state}                 gauge      jobs kept in Redis, per state
    sollol_batch_chunk_duration_seconds      histogram  one embed chunk on a worker (seconds)

Workers count into Redis (state/batch.py), so any gateway replica reports the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import REGISTRY, Collector

from sollol.config import SOLLOLConfig
from sollol.state.batch import CHUNK_BUCKETS_S, BatchStore

__all__ = ["BatchCollector", "register_batch_metrics"]

STATES = ("loading", "queued", "running", "done", "failed", "cancelled")


class BatchCollector(Collector):
    """Reads the batch store on every scrape (a few Redis round trips)."""

    def __init__(self, store: BatchStore) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        try:
            yield from self._collect()
        except Exception:  # Redis away: no batch metrics in this scrape rather than a 500
            return

    def _collect(self) -> Iterator[Metric]:
        docs = CounterMetricFamily("sollol_batch_docs", "Batch embedding vectors stored")
        docs.add_metric([], self.store.docs_total())
        jobs = GaugeMetricFamily("sollol_batch_jobs", "Batch embedding jobs", labels=["state"])
        counts = dict.fromkeys(STATES, 0)
        for job in self.store.job_ids():
            state = self.store.job(job)["state"]
            counts[state] = counts.get(state, 0) + 1
        for state, n in counts.items():
            jobs.add_metric([state], n)
        yield docs
        yield jobs
        yield self._latency()

    def _latency(self) -> HistogramMetricFamily:
        per_bucket, total_s = self.store.chunk_latency()
        cumulative, buckets = 0, []
        for bound in CHUNK_BUCKETS_S:
            cumulative += per_bucket.get(str(bound), 0)
            buckets.append((str(bound), cumulative))
        buckets.append(("+Inf", cumulative + per_bucket.get("inf", 0)))
        hist = HistogramMetricFamily(
            "sollol_batch_chunk_duration_seconds", "Duration of one batch embed chunk on a worker"
        )
        hist.add_metric([], buckets, sum_value=total_s)
        return hist


_collector: BatchCollector | None = None


def register_batch_metrics(redis: Any, cfg: SOLLOLConfig) -> BatchCollector:
    """Add the batch metrics to the process's registry (replacing an earlier app's)."""
    global _collector  # noqa: PLW0603 - prometheus_client's registry is process-global too
    if _collector is not None:
        REGISTRY.unregister(_collector)
    _collector = BatchCollector(BatchStore(redis, cfg))
    REGISTRY.register(_collector)
    return _collector
