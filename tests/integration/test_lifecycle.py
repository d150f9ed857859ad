"""Every routed call finishes exactly once, also when it fails before its first line.

A finished call leaves a decision record (``sollol:decisions``), a count in
``sollol_requests_total`` by outcome, its in-flight count released and, when its host failed,
a failure on that host's circuit breaker. A streamed request that failed before its first
line used to skip all of it (the first line was awaited outside any accounting).
"""

from __future__ import annotations

import json

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.conftest import solo_profile
from tests.sim.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(live_factory):
    # a short idle timeout makes the hung host fail fast; 2 s leaves room on a busy machine
    return live_factory(solo_profile(), idle_chunk_timeout_s=2.0, circuit_failures_to_open=100)


@pytest.fixture(autouse=True)
def healthy(live):
    yield
    live.recover("solo")
    live.redis.delete(live.cfg.key("circuit", "solo"))


def _decisions(live, **match):
    raw = live.redis.lrange(live.cfg.key("decisions"), 0, -1)
    entries = [json.loads(r) for r in raw]
    return [e for e in entries if all(e.get(k) == v for k, v in match.items())]


def _requests_total(live, endpoint, host, outcome):
    """sollol_requests_total{endpoint, host, outcome} as the gateway's /metrics reports it."""
    text = httpx.get(live.url + "/metrics", timeout=10).text
    wanted = {"endpoint": endpoint, "host": host, "outcome": outcome}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "sollol_requests_total" and sample.labels == wanted:
                return sample.value
    return 0.0


def _circuit_failures(live):
    return int(live.redis.hget(live.cfg.key("circuit", "solo"), "failures") or 0)


def _stream_generate(live, model="llama3.2", tokens=20):
    return httpx.post(
        live.url + "/api/generate",
        timeout=60,
        json={"model": model, "prompt": "lifecycle", "options": {"num_predict": tokens}},
    )


def test_a_streamed_request_timing_out_before_its_first_line_is_finished_as_an_error(live):
    errors_before = _requests_total(live, "generate", "solo", "error")
    failures_before = _circuit_failures(live)
    live.fault("solo", "hang")  # the worker starts, Ollama never sends a line
    r = _stream_generate(live)
    assert r.status_code == 504, r.text
    assert r.json() == {"error": "host solo stopped answering"}
    wait_for(
        lambda: _decisions(live, endpoint="generate", host="solo", outcome="error"),
        timeout=10,
        what="a decision record with outcome error",
    )
    assert _requests_total(live, "generate", "solo", "error") == errors_before + 1
    assert _circuit_failures(live) > failures_before
    wait_for(  # the worker was told to stop and gave the slot back
        lambda: live.get("/api/fleet")["hosts"][0]["running"] == 0,
        timeout=10,
        what="the hung request to be cancelled on the worker",
    )


def test_a_streamed_request_with_no_host_for_its_model_is_finished_as_an_error(live):
    errors_before = _requests_total(live, "generate", "none", "error")
    r = _stream_generate(live, model="no-such-model")
    assert r.status_code == 404, r.text
    wait_for(
        lambda: _decisions(live, model="no-such-model:latest", host="", outcome="error"),
        timeout=10,
        what="a decision record with outcome error",
    )
    assert _requests_total(live, "generate", "none", "error") == errors_before + 1


def test_a_streamed_answer_is_finished_once_as_ok(live):
    r = _stream_generate(live, tokens=5)
    assert r.status_code == 200
    assert json.loads(r.text.splitlines()[-1])["done"] is True, r.text
    rid = r.headers["x-sollol-request-id"]
    wait_for(lambda: _decisions(live, request_id=rid), timeout=10, what="the decision record")
    assert [e["outcome"] for e in _decisions(live, request_id=rid)] == ["ok"]


def test_a_client_that_leaves_mid_stream_is_finished_once_as_abandoned(live):
    with httpx.stream(
        "POST",
        live.url + "/api/generate",
        timeout=30,
        json={"model": "llama3.2", "prompt": "long", "options": {"num_predict": 5000}},
    ) as r:
        rid = r.headers["x-sollol-request-id"]
        for _ in zip(range(3), r.iter_lines(), strict=False):
            pass
    wait_for(lambda: _decisions(live, request_id=rid), timeout=10, what="the decision record")
    assert [e["outcome"] for e in _decisions(live, request_id=rid)] == ["abandoned"]
