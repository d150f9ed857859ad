"""Metrics with several gunicorn workers: any worker's /metrics and the metrics_port server show
every request once, whichever worker process answered it."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from sollol.embedded_redis import free_port
from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile

pytestmark = pytest.mark.integration

REQUESTS = 12


def _requests_total(text: str) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "sollol_requests_total" and s.labels.get("outcome") == "ok"
    )


def _count(text: str, name: str, labels: dict[str, str]) -> float:
    return sum(
        s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == name and labels.items() <= s.labels.items()
    )


def _scrape(url: str) -> str:
    try:
        return httpx.get(url, timeout=10).text
    except httpx.TransportError:
        return ""


def test_counters_are_summed_over_gateway_workers_and_served_on_metrics_port(
    live_factory, tmp_path, monkeypatch
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # to see who wrote what
    metrics_port = free_port()
    live = live_factory(
        make_profile([{"name": "alpha", "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}]),
        gateway_workers=2,
        metrics_port=metrics_port,
    )
    body = {
        "model": "llama3.2",
        "prompt": "count me",
        "stream": False,
        "options": {"num_predict": 2},
    }
    with httpx.Client(timeout=30) as client:  # keep-alive off: connections spread over workers
        for _ in range(REQUESTS):
            r = client.post(live.url + "/api/generate", json=body, headers={"Connection": "close"})
            assert r.status_code == 200
    writers = {p.stem.rsplit("_", 1)[-1] for p in tmp_path.glob("counter_*.db")}
    assert len(writers) >= 2, writers  # both gateway workers answered some of the requests
    for _ in range(4):  # several scrapes, answered by either worker: always the whole count
        text = httpx.get(live.url + "/metrics", timeout=10).text
        assert _requests_total(text) == REQUESTS
    side = wait_for(lambda: _scrape(f"http://127.0.0.1:{metrics_port}/metrics"), 20, "metrics port")
    assert _requests_total(side) == REQUESTS
    assert "sollol_host_up" in side and "sollol_active_requests" in side  # fleet gauges there too
    # every answer fed time to first token and generation speed, per host x model
    labels = {"host": "alpha", "model": "llama3.2:latest"}
    assert _count(side, "sollol_time_to_first_token_seconds_count", labels) == REQUESTS
    assert _count(side, "sollol_tokens_per_second_count", labels) == REQUESTS
