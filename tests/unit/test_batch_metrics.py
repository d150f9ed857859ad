"""Batch metrics at scrape time: docs stored, jobs per state, chunk latency histogram."""

from __future__ import annotations

import fakeredis
from prometheus_client import CollectorRegistry, generate_latest

from sollol.api.batch_metrics import BatchCollector
from sollol.config import load_config
from sollol.state.batch import BatchStore, Doc


def test_batch_metrics_report_docs_jobs_and_chunk_latency():
    store = BatchStore(fakeredis.FakeRedis(decode_responses=True), load_config(env={}))
    done = store.create([Doc("a", "x"), Doc("b", "y")], "m", 2)["job_id"]
    store.create([Doc("c", "z")], "m", 2)
    store.claim(done, 2)
    store.put_results(done, [(0, "[1]"), (1, "[2]"), (1, "[2]")])  # the repeat is not counted
    store.observe_chunk(0.3)
    store.observe_chunk(7.0)
    registry = CollectorRegistry()
    registry.register(BatchCollector(store))
    text = generate_latest(registry).decode()
    assert "sollol_batch_docs_total 2.0" in text
    assert 'sollol_batch_jobs{state="done"} 1.0' in text
    assert 'sollol_batch_jobs{state="queued"} 1.0' in text
    assert 'sollol_batch_chunk_duration_seconds_bucket{le="0.25"} 0.0' in text
    assert 'sollol_batch_chunk_duration_seconds_bucket{le="0.5"} 1.0' in text
    assert 'sollol_batch_chunk_duration_seconds_bucket{le="+Inf"} 2.0' in text
    assert "sollol_batch_chunk_duration_seconds_count 2.0" in text
    assert "sollol_batch_chunk_duration_seconds_sum 7.3" in text
