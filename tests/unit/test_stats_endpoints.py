"""The original SOLLOL's endpoints: /api/stats, /api/dashboard, /docs, and /api/route (explain)."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest
from celery import Celery

from sollol.api import create_app
from sollol.api.stats import dashboard_view, durations, fleet_stats, host_alerts
from sollol.config import load_config
from sollol.router import HostState
from sollol.state.registry import HostRecord, write_heartbeat

MODEL = "llama3.2:latest"


def _decision(host, ms, outcome="ok", task="chat", attempts=1):
    return {
        "ts": 1.0,
        "host": host,
        "model": MODEL,
        "endpoint": "chat",
        "task_type": task,
        "outcome": outcome,
        "actual_ms": ms,
        "attempts": attempts,
    }


def test_durations_summarise_avg_min_max():
    assert durations([100.0, 300.0, 200.0]) == {
        "count": 3,
        "avg_ms": 200.0,
        "min_ms": 100.0,
        "max_ms": 300.0,
    }
    assert durations([])["count"] == 0


def test_fleet_stats_per_host_patterns_history_and_mix():
    hosts = [HostState(name="a", slots=2, vram_mb=8192), HostState(name="b", health="down")]
    decisions = [
        _decision("a", 100.0),
        _decision("a", 300.0, task="analysis"),
        _decision("a", 50.0, outcome="error", attempts=2),
        _decision("b", 900.0),
    ]
    s = fleet_stats(hosts, decisions, "performance")
    a = s["hosts"]["a"]
    assert a["latency_ms"] == 200.0  # mean of the two answered requests; failures excluded
    assert a["success_rate"] == pytest.approx(2 / 3, abs=1e-4)
    assert a["requests"] == 3 and a["slots"] == 2
    assert set(a["queued_by_priority"]) == {str(p) for p in range(1, 11)}
    assert s["patterns"]["chat:llama3.2:latest"]["count"] == 2  # a's 100 ms and b's 900 ms
    assert s["patterns"]["analysis:llama3.2:latest"]["avg_ms"] == 300.0
    assert s["performance_history"]["max_ms"] == 900.0
    assert s["routing"]["by_host"] == {"a": 3, "b": 1}
    assert s["routing"]["by_outcome"] == {"ok": 3, "error": 1}
    assert s["routing"]["failovers"] == 1


def test_a_host_without_recent_requests_reports_its_learned_success_rate():
    s = fleet_stats([HostState(name="a", success_rate=0.75)], [], "round_robin")
    assert s["hosts"]["a"]["success_rate"] == 0.75


def test_dashboard_has_the_original_shape_and_counts_only_available_hosts():
    hosts = [
        HostState(name="a", vram_mb=24576),
        HostState(name="b", vram_mb=8192, health="down"),
    ]
    stats = fleet_stats(hosts, [_decision("a", 150.0)], "performance")
    view = dashboard_view(stats, {"b": "no heartbeat"}, workers=1, batch_available=True, now=0)
    assert set(view) == {"status", "performance", "routing", "alerts", "hosts"}
    assert view["status"] == {
        "healthy": True,
        "total_hosts": 2,
        "available_hosts": 1,
        "workers": 1,
        "batch_available": True,
    }
    assert view["performance"] == {
        "avg_latency_ms": 150.0,
        "avg_success_rate": 1.0,
        "total_gpu_memory_mb": 24576,  # the down host's memory is not available
    }
    assert view["routing"]["intelligent_routing_enabled"] is True
    assert view["routing"]["patterns_available"] == ["chat"]
    assert view["alerts"][0]["severity"] == "error"
    assert view["alerts"][0]["message"] == "Host b is down: no heartbeat"
    assert {h["host"] for h in view["hosts"]} == {"a", "b"}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"health": "degraded"}, "warning: Host a is degraded: slow"),
        ({"circuit": "open"}, "warning: Host a circuit is open"),
        ({"latency_ms": 8230.0}, "warning: Host a has high latency: 8230ms"),
        ({"requests": 10, "success_rate": 0.5}, "warning: Host a has a low success rate: 50.0%"),
    ],
)
def test_alerts_name_the_problem(change, expected):
    base = {"health": "healthy", "circuit": "closed", "latency_ms": 10.0, "requests": 0}
    base["success_rate"] = 1.0
    alerts = host_alerts({"a": {**base, **change}}, {"a": "slow"}, now=0)
    assert [f"{a['severity']}: {a['message']}" for a in alerts] == [expected]
    assert alerts[0]["timestamp"].startswith("1970-01-01")  # ISO 8601, as the original


@pytest.fixture
def client():
    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = load_config(env={})
    for name, loaded in (("gpu-a", []), ("gpu-b", [MODEL])):
        write_heartbeat(
            redis,
            cfg,
            HostRecord(
                name=name,
                url="http://127.0.0.1:1",
                worker="w",
                slots=2,
                vram_mb=12288,
                ollama_ok=True,
                installed=[{"name": MODEL, "size": 2 * 2**30}],
                loaded=[{"name": m, "size": 2 * 2**30, "size_vram": 2 * 2**30} for m in loaded],
                seen_at=time.time(),
            ),
        )
    redis.lpush(cfg.key("decisions"), json.dumps(_decision("gpu-b", 120.0)))
    app = create_app(cfg, celery=Celery("t", broker="memory://", set_as_current=False), redis=redis)
    app.testing = True
    return app.test_client()


def test_api_stats_and_dashboard_answer_from_the_fleet_and_decisions(client):
    stats = client.get("/api/stats").get_json()
    assert set(stats["hosts"]) == {"gpu-a", "gpu-b"}
    assert stats["hosts"]["gpu-b"]["latency_ms"] == 120.0
    dash = client.get("/api/dashboard").get_json()
    assert dash["status"]["total_hosts"] == 2 and dash["status"]["available_hosts"] == 2
    assert dash["performance"]["total_gpu_memory_mb"] == 2 * 12288


def test_route_explains_where_a_request_would_go_without_sending_it(client):
    body = {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}
    r = client.post("/api/route?priority=8", json=body)
    assert r.status_code == 200
    out = r.get_json()
    assert out["endpoint"] == "chat" and out["profile"]["priority"] == 8
    assert out["decision"]["host"] == "gpu-b"  # the model is loaded there
    assert "gpu-a" in {a["host"] for a in out["decision"]["alternatives"]}
    assert out["decision"]["reasoning"]
    assert client.get("/api/stats").get_json()["routing"]["decisions"] == 1  # nothing was sent


def test_route_refuses_what_the_real_endpoint_would_refuse(client):
    r = client.post("/api/route?endpoint=pull", json={"model": "x"})
    assert r.status_code == 400 and "endpoint must be one of" in r.get_json()["error"]


def test_docs_serve_swagger_ui_from_the_package_not_a_cdn(client):
    page = client.get("/docs/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/openapi.json" in html and "swagger-ui-bundle.js" in html
    assert "https://" not in html.split("<body>")[1]  # every asset is local
    with client.get("/docs/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200 and len(asset.data) > 100_000
    assert client.get("/docs").status_code in (200, 301, 308)


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"model": "nope", "messages": []}, 404, "model 'nope' not found"),
        ({"messages": []}, 400, "model is required"),
        ({"prompt": "x"}, 404, "model '' not found"),  # generate's own wording
    ],
)
def test_route_answers_like_the_real_endpoint_for_a_missing_model(client, body, status, error):
    r = client.post("/api/route", json=body)
    assert (r.status_code, r.get_json()["error"]) == (status, error)


def test_openapi_describes_every_endpoint_the_gateway_serves(client):
    """/docs shows /openapi.json: a route missing from it is an endpoint users cannot find."""
    import re

    spec = client.get("/openapi.json").get_json()
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in client.application.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
        if rule.endpoint not in ("static", "docs.show") or rule.rule == "/docs/"
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served - described == set()
    assert described - served == set()
