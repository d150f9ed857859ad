"""Prometheus metrics: the original SOLLOL's names, TTFT and tokens/s per host x model, fleet
gauges at scrape time, and counters summed over several gunicorn workers (multiprocess mode)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import fakeredis
from celery import Celery
from prometheus_client.parser import text_string_to_metric_families

from sollol.api import create_app
from sollol.config import load_config
from sollol.state.registry import HostRecord, write_heartbeat

MODEL = "llama3.2:latest"


def _entry(host="gpu-a", outcome="ok", **more):
    return {
        "ts": time.time(),
        "endpoint": "chat",
        "host": host,
        "model": MODEL,
        "priority": 5,
        "task_type": "chat",
        "attempts": 1,
        "outcome": outcome,
        "actual_ms": 250.0,
        "queue_wait_ms": 4.0,
        **more,
    }


def _samples(text):
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _client(metrics_enabled=True):
    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = load_config(env={}, metrics_enabled=metrics_enabled)
    write_heartbeat(
        redis,
        cfg,
        HostRecord(
            name="gpu-a",
            url="http://127.0.0.1:1",
            worker="w",
            slots=2,
            ollama_ok=True,
            installed=[{"name": MODEL, "size": 2**30}],
            seen_at=time.time(),
        ),
    )
    for e in (_entry(actual_ms=100.0), _entry(actual_ms=300.0), _entry(outcome="error")):
        redis.lpush(cfg.key("decisions"), json.dumps(e))
    app = create_app(cfg, celery=Celery("t", broker="memory://", set_as_current=False), redis=redis)
    return app, app.test_client()


def test_the_original_metric_names_are_exposed():
    app, client = _client()
    svc = app.extensions["sollol"]
    before = _samples(client.get("/metrics").get_data(as_text=True))
    key = ("sollol_worker_failures_total", (("host", "gpu-a"),))
    svc.metrics.observe(_entry(outcome="error"))
    svc.metrics.observe(_entry(ttft_ms=120.0, eval_count=50, eval_duration_ns=10**9))
    samples = _samples(client.get("/metrics").get_data(as_text=True))
    assert samples[key] == before.get(key, 0) + 1
    assert samples[("sollol_request_latency_seconds_count", (("endpoint", "chat"),))] >= 2
    # fleet gauges from the decision log: two answered requests (100 and 300 ms) of three
    assert samples[("sollol_host_latency_ms", (("host", "gpu-a"),))] == 200.0
    assert round(samples[("sollol_host_success_rate", (("host", "gpu-a"),))], 4) == 0.6667
    assert samples[("sollol_active_requests", ())] == 0
    labels = (("host", "gpu-a"), ("model", MODEL))
    assert samples[("sollol_time_to_first_token_seconds_count", labels)] >= 1
    assert (
        samples[("sollol_tokens_per_second_bucket", (*labels[:1], ("le", "50.0"), labels[1]))] >= 1
    )


def test_metrics_can_be_switched_off():
    app, client = _client(metrics_enabled=False)
    assert client.get("/metrics").status_code == 404
    assert app.extensions["sollol"].metrics is None


_WORKER = """
import sys
from sollol.api.metrics import Metrics
m = Metrics.get()
for _ in range(int(sys.argv[1])):
    m.requests.labels("chat", "gpu-a", "ok").inc()
"""

_SCRAPE = """
from prometheus_client import generate_latest
from sollol.api.metrics import scrape_registry
print(generate_latest(scrape_registry()).decode())
"""


def test_counters_of_several_worker_processes_are_summed(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for n in (3, 4):  # two gunicorn workers that answered 3 and 4 requests
        subprocess.run([sys.executable, "-c", _WORKER, str(n)], env=env, check=True)
    out = subprocess.run(
        [sys.executable, "-c", _SCRAPE], env=env, check=True, capture_output=True, text=True
    ).stdout
    key = (
        "sollol_requests_total",
        (("endpoint", "chat"), ("host", "gpu-a"), ("outcome", "ok")),
    )
    assert _samples(out)[key] == 7


def test_time_to_first_token_is_measured_when_streamed_and_estimated_when_joined():
    from sollol.api.call import Call
    from sollol.api.relay import ollama_timings
    from sollol.api.services import _speed
    from sollol.router import RequestProfile

    final = json.dumps(
        {
            "done": True,
            "load_duration": 2_000_000,
            "prompt_eval_duration": 8_000_000,
            "eval_count": 40,
            "eval_duration": 500_000_000,
        }
    ).encode()
    joined = Call("generate", {}, RequestProfile(model=MODEL), MODEL, client_streams=False)
    joined.queue_wait_ms, joined.timings = 5.0, ollama_timings(final)
    # queue wait + Ollama's load and prompt evaluation: 5 + 2 + 8 ms
    assert _speed(joined) == {"ttft_ms": 15.0, "eval_count": 40, "eval_duration_ns": 500_000_000}
    streamed = Call("chat", {}, RequestProfile(model=MODEL), MODEL)
    streamed.first_chunk_at = streamed.t0 + 0.25  # the first chunk came 250 ms after arrival
    assert _speed(streamed) == {"ttft_ms": 250.0}
    assert ollama_timings(b"not json") == {}
