"""Property tests: whatever a client sends, the gateway answers a clear 4xx in the protocol's shape —
never a 5xx, never a crash. The fleet lives in fakeredis (one host with two models); nothing
valid is ever dispatched here, so no worker is needed."""

from __future__ import annotations

import json
import string
import time

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sollol.api import create_app
from sollol.config import load_config
from sollol.state.registry import HostRecord, write_heartbeat

KNOWN = "llama3.2:latest"
PLAIN = "plain:latest"  # reports its capabilities: completion only
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def client():
    from celery import Celery

    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = load_config(env={}, max_body_bytes=64 * 1024)
    write_heartbeat(
        redis,
        cfg,
        HostRecord(
            name="gpu-a",
            url="http://127.0.0.1:1",
            worker="w",
            slots=2,
            ollama_ok=True,
            installed=[
                {"name": KNOWN, "model": KNOWN, "size": 2 * 2**30},
                {"name": PLAIN, "model": PLAIN, "size": 2**30, "capabilities": ["completion"]},
            ],
            loaded=[],
            seen_at=time.time(),
        ),
    )
    celery = Celery("test", broker="memory://", set_as_current=False)
    app = create_app(cfg, celery=celery, redis=redis)
    app.testing = True
    return app.test_client()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

NATIVE = ["/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/api/show"]
OPENAI = ["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"]
ANTHROPIC = ["/v1/messages"]


def _assert_clear_client_error(resp, openai: bool) -> None:
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.get_data()[:300])
    body = resp.get_json()
    if resp.request.path in ANTHROPIC:
        assert body["type"] == "error" and isinstance(body["error"]["message"], str)
        assert body["error"]["type"] in ("invalid_request_error", "not_found_error")
    elif openai:
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
        assert body["error"]["type"] in ("invalid_request_error", "not_found_error")
    else:
        assert isinstance(body["error"], str) and body["error"]


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(path=st.sampled_from(NATIVE + OPENAI + ANTHROPIC), raw=st.binary(max_size=200))
def test_arbitrary_bytes_get_a_clear_4xx(client, path, raw):
    try:
        decoded = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if isinstance(decoded, dict):
        decoded["model"] = "no-such-model"  # never dispatch: unknown models are 404
        raw = json.dumps(decoded).encode()
    resp = client.post(path, data=raw)
    _assert_clear_client_error(resp, path.startswith("/v1/"))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(NATIVE + OPENAI + ANTHROPIC),
    body=st.dictionaries(
        st.sampled_from(
            [
                "model",
                "messages",
                "prompt",
                "input",
                "options",
                "stream",
                "format",
                "keep_alive",
                "think",
                "max_tokens",
                "stop",
                "dimensions",
                "images",
                "raw",
                "system",
                "top_logprobs",
                "encoding_format",
                "name",
                "max_completion_tokens",
                "tools",
                "tool_choice",
                "response_format",
                "reasoning_effort",
                "text",
                "instructions",
                "max_output_tokens",
                "system",
                "thinking",
                "stop_sequences",
            ]
        ),
        json_values,
        max_size=6,
    ),
)
def test_wrong_types_and_unknown_models_get_a_clear_4xx(client, path, body):
    if body.get("model") in (KNOWN, "llama3.2", PLAIN, "plain"):
        body["model"] = "unknown"
    resp = client.post(path, json=body)
    _assert_clear_client_error(resp, path.startswith("/v1/"))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    priority=st.text(
        alphabet=string.ascii_letters + string.digits + string.punctuation + " ", max_size=5
    ).filter(lambda p: p.strip() not in {str(i) for i in range(1, 11)} and p != "")
)
def test_bad_priorities_are_400_and_say_how_to_fix_them(client, priority):
    resp = client.post("/api/chat", json={"model": KNOWN}, headers={"X-SOLLOL-Priority": priority})
    assert resp.status_code == 400
    assert "priority" in resp.get_json()["error"]


def test_huge_bodies_are_413_in_each_protocols_shape(client):
    big = json.dumps({"model": KNOWN, "prompt": "x" * (128 * 1024)})
    native = client.post("/api/generate", data=big)
    assert native.status_code == 413 and "too large" in native.get_json()["error"]
    oa = client.post("/v1/completions", data=big)
    assert oa.status_code == 413 and "too large" in oa.get_json()["error"]["message"]


@pytest.mark.parametrize("path", NATIVE)
def test_unknown_model_is_ollamas_404_wording(client, path):
    resp = client.post(path, json={"model": "ghost", "input": "x", "prompt": "x"})
    assert resp.status_code == 404
    assert "ghost" in resp.get_json()["error"] and "not found" in resp.get_json()["error"]


@pytest.fixture(scope="module")
def redis_away_client():
    """A gateway whose Redis was never reachable (a closed loopback port)."""
    import redis as redis_lib
    from celery import Celery
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    from sollol.embedded_redis import free_port

    away = redis_lib.Redis(
        port=free_port(),
        socket_connect_timeout=0.2,
        socket_timeout=0.2,
        retry=Retry(NoBackoff(), 0),
    )
    cfg = load_config(env={}, broker_wait_s=0.3)
    celery = Celery("test", broker="memory://", set_as_current=False)
    app = create_app(cfg, celery=celery, redis=away)
    app.testing = True
    return app.test_client()


@pytest.mark.parametrize(
    ("method", "path", "body", "protocol"),
    [
        ("POST", "/api/chat", {"model": KNOWN, "messages": []}, "ollama"),
        ("POST", "/api/generate", {"model": KNOWN, "prompt": "hi"}, "ollama"),
        ("POST", "/api/embed", {"model": KNOWN, "input": "hi"}, "ollama"),
        ("GET", "/api/tags", None, "ollama"),
        ("GET", "/api/ps", None, "ollama"),
        (
            "POST",
            "/v1/chat/completions",
            {"model": KNOWN, "messages": [{"role": "user"}]},
            "openai",
        ),
        ("GET", "/v1/models", None, "openai"),
        ("POST", "/v1/responses", {"model": KNOWN, "input": "hi"}, "openai"),
        ("POST", "/v1/messages", {"model": KNOWN, "max_tokens": 5, "messages": HI}, "anthropic"),
    ],
)
def test_redis_unreachable_since_start_is_503_with_retry_after_in_the_protocols_shape(
    redis_away_client, method, path, body, protocol
):
    resp = redis_away_client.open(path, method=method, json=body)
    assert resp.status_code == 503, resp.get_data()[:300]
    assert int(resp.headers["Retry-After"]) > 0
    data = resp.get_json()
    if protocol == "ollama":
        assert "Redis is unreachable" in data["error"]
    elif protocol == "openai":
        assert "Redis is unreachable" in data["error"]["message"]
        assert data["error"]["type"] == "api_error"
    else:
        assert data["type"] == "error"
        assert data["error"]["type"] == "overloaded_error"
        assert "Redis is unreachable" in data["error"]["message"]


TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/api/chat",
            {"model": "plain", "messages": HI, "tools": TOOLS},
            "registry.ollama.ai/library/plain:latest does not support tools",
        ),
        (
            "/api/chat",
            {"model": "plain", "messages": HI, "think": True},
            "does not support thinking",
        ),
        (
            "/api/generate",
            {"model": "plain", "prompt": "what is this?", "images": ["QUJD"]},
            "does not support vision",
        ),
        (
            "/v1/chat/completions",
            {"model": "plain", "messages": HI, "tools": TOOLS},
            "support tools",
        ),
        (
            "/v1/chat/completions",
            {"model": "plain", "messages": HI, "reasoning_effort": "high"},
            "thinking",
        ),
    ],
)
def test_a_capability_no_host_has_is_ollamas_400(client, path, body, message):
    resp = client.post(path, json=body)
    assert resp.status_code == 400, resp.get_data()[:300]
    data = resp.get_json()
    text = data["error"]["message"] if path.startswith("/v1/") else data["error"]
    assert message in text
