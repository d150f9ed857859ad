"""The gateway is a drop-in Ollama: the official ollama and openai clients work against it unchanged,
through real Redis, real Celery workers and simulated nodes."""

from __future__ import annotations

import concurrent.futures as cf
import json
import time

import httpx
import ollama
import openai
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import CHAT, CODER, EMBED, make_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        make_profile(
            [
                {
                    "name": "alpha",
                    "num_parallel": 2,
                    "models": {"llama3.2": CHAT, "nomic-embed-text": EMBED},
                    "loaded": ["llama3.2"],
                },
                {
                    "name": "beta",
                    "num_parallel": 2,
                    "models": {
                        "llama3.2": CHAT,
                        "qwen2.5-coder:7b": CODER,
                        "nomic-embed-text": EMBED,
                    },
                    "loaded": ["llama3.2"],
                },
            ]
        )
    )


@pytest.fixture
def client(live):
    c = ollama.Client(host=live.url)
    yield c
    c._client.close()


@pytest.fixture
def oa(live):
    with openai.OpenAI(base_url=live.url + "/v1", api_key="unused", max_retries=0) as c:
        yield c


MSG = [{"role": "user", "content": "Say hello"}]


def test_root_and_version_answer_like_ollama(live):
    r = httpx.get(live.url + "/")
    assert r.status_code == 200 and r.text == "Ollama is running"
    assert httpx.head(live.url + "/").status_code == 200
    assert "version" in httpx.get(live.url + "/api/version").json()


def test_chat_non_streaming(client):
    resp = client.chat(model="llama3.2", messages=MSG, options={"num_predict": 5})
    assert resp.done and resp.message.role == "assistant" and resp.message.content
    assert resp.eval_count == 5


def test_routed_answers_carry_host_header_and_routing_metadata(live):
    r = httpx.post(
        live.url + "/api/chat",
        timeout=30,
        json={"model": "llama3.2", "messages": MSG, "stream": False, "options": {"num_predict": 3}},
    )
    routing = r.json()["_sollol_routing"]
    assert r.headers["x-sollol-host"] == routing["host"] in ("alpha", "beta")
    for key in (
        "task_type",
        "complexity",
        "priority",
        "decision_score",
        "reasoning",
        "alternatives",
        "attempts",
        "queue_wait_ms",
        "actual_duration_ms",
    ):
        assert key in routing, key
    assert routing["attempts"] == 1 and routing["priority"] == 5


def test_chat_streaming_token_by_token(client):
    parts = list(
        client.chat(model="llama3.2", messages=MSG, stream=True, options={"num_predict": 8})
    )
    assert len(parts) == 9  # 8 tokens + the final done object
    assert parts[-1].done and parts[-1].eval_count == 8
    assert all(not p.done for p in parts[:-1])


def test_generate_streaming_and_not(client):
    full = client.generate(
        model="llama3.2", prompt="Why is the sky blue?", options={"num_predict": 6}
    )
    assert full.done and full.eval_count == 6 and full.response
    parts = list(
        client.generate(model="llama3.2", prompt="hi", stream=True, options={"num_predict": 3})
    )
    assert "".join(p.response for p in parts) and parts[-1].done


def test_embed_and_legacy_embeddings(client):
    out = client.embed(model="nomic-embed-text", input=["a", "b"])
    assert len(out.embeddings) == 2 and len(out.embeddings[0]) == 64
    again = client.embed(model="nomic-embed-text", input="a")
    assert again.embeddings[0] == out.embeddings[0]  # deterministic on any host
    legacy = client.embeddings(model="nomic-embed-text", prompt="a")
    assert len(legacy.embedding) == 64


def test_list_ps_show_aggregate_the_fleet_without_duplicates(client):
    names = [m.model for m in client.list().models]
    assert sorted(names) == ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5-coder:7b"]
    loaded = [m.model for m in client.ps().models]
    assert loaded.count("llama3.2:latest") == 1
    shown = client.show("qwen2.5-coder:7b")
    assert shown.details is not None and shown.modelinfo is not None


def test_unknown_model_is_ollamas_404(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="no-such-model", messages=MSG)
    assert info.value.status_code == 404
    assert "not found" in info.value.error


def test_model_installed_only_on_one_host_goes_there(live):
    r = httpx.post(
        live.url + "/api/chat",
        timeout=60,
        json={
            "model": "qwen2.5-coder:7b",
            "messages": MSG,
            "stream": False,
            "options": {"num_predict": 2},
        },
    )
    assert r.json()["_sollol_routing"]["host"] == "beta"


def test_openai_chat_stream_and_not(oa):
    resp = oa.chat.completions.create(model="llama3.2", messages=MSG, max_tokens=4)
    assert resp.choices[0].message.content and resp.usage.completion_tokens == 4
    chunks = list(
        oa.chat.completions.create(
            model="llama3.2",
            messages=MSG,
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    assert chunks[-1].usage.completion_tokens == 4
    assert any(c.choices and c.choices[0].finish_reason == "length" for c in chunks)


def test_openai_embeddings_and_models(oa):
    emb = oa.embeddings.create(model="nomic-embed-text", input=["x", "y"])
    assert len(emb.data) == 2 and len(emb.data[0].embedding) == 64
    ids = {m.id for m in oa.models.list()}
    assert "llama3.2:latest" in ids


def test_openai_errors_are_in_openai_shape(oa):
    with pytest.raises(openai.NotFoundError):
        oa.chat.completions.create(model="missing", messages=MSG)
    with pytest.raises(openai.BadRequestError) as info:
        oa.chat.completions.create(model="llama3.2", messages=[])
    assert info.value.body["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("path", "body", "status", "needle"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/chat", b"{nope", 400, "invalid JSON"),
        ("/api/chat", b'{"model": "llama3.2", "messages": "x"}', 400, "messages"),
        (
            "/api/generate",
            b'{"model": "llama3.2", "options": {"num_predict": "x"}}',
            400,
            "num_predict",
        ),
        ("/api/chat?priority=11", b'{"model": "llama3.2"}', 400, "priority"),
        ("/api/chat?priority=high", b'{"model": "llama3.2"}', 400, "priority"),
        ("/api/blobs/sha256:00", b"x", 501, "not supported"),
        ("/api/pull", b"{}", 400, "model is required"),
    ],
)
def test_bad_input_gets_a_clear_error_in_ollama_shape(live, path, body, status, needle):
    r = httpx.post(live.url + path, content=body)
    assert r.status_code == status
    assert needle in r.json()["error"]


def test_unknown_route_and_wrong_method_like_gin(live):
    r = httpx.get(live.url + "/api/nope")
    assert r.status_code == 404 and r.text == "404 page not found"
    assert httpx.get(live.url + "/api/chat").status_code == 405


def test_ndjson_has_no_blank_lines_and_right_content_type(live):
    with httpx.stream(
        "POST",
        live.url + "/api/generate",
        json={"model": "llama3.2", "prompt": "x", "options": {"num_predict": 3}},
    ) as r:
        assert r.headers["content-type"].startswith("application/x-ndjson")
        assert r.headers["x-sollol-host"] in ("alpha", "beta")
        lines = list(r.iter_lines())
    assert all(line.strip() for line in lines)
    assert json.loads(lines[-1])["done"] is True


def test_requests_spread_over_the_hosts(live):
    def one(_):
        r = httpx.post(
            live.url + "/api/generate",
            timeout=60,
            json={
                "model": "llama3.2",
                "prompt": "spread",
                "stream": False,
                "options": {"num_predict": 20},
            },
        )
        return r.headers["x-sollol-host"]

    with cf.ThreadPoolExecutor(8) as pool:
        hosts = list(pool.map(one, range(16)))
    assert set(hosts) == {"alpha", "beta"}


def test_client_disconnect_frees_the_slot_on_the_node(live):
    with httpx.stream(
        "POST",
        live.url + "/api/generate",
        timeout=30,
        json={"model": "llama3.2", "prompt": "long", "options": {"num_predict": 5000}},
    ) as r:
        host = r.headers["x-sollol-host"]
        for _ in zip(range(3), r.iter_lines(), strict=False):
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        fleet = {h["name"]: h for h in live.get("/api/fleet")["hosts"]}
        if fleet[host]["running"] == 0:
            break
        time.sleep(0.2)
    else:
        pytest.fail("the worker kept the upstream request running after the client left")


def _affinities(live) -> int:
    """Conversations whose host the gateway has recorded (one key each)."""
    return len(live.redis.keys(live.cfg.key("affinity", "*")))


def test_a_conversation_returns_to_the_host_holding_its_prompt_cache(live):
    known = _affinities(live)  # conversations of earlier tests
    for n in range(4):
        history = [
            {"role": "system", "content": f"persona {n}"},
            {"role": "user", "content": f"open question number {n}"},
        ]
        hosts, reasons = [], []
        for turn in range(3):
            r = httpx.post(
                live.url + "/api/chat",
                timeout=30,
                json={
                    "model": "llama3.2",
                    "messages": history,
                    "stream": False,
                    "options": {"num_predict": 3},
                },
            )
            body = r.json()
            hosts.append(body["_sollol_routing"]["host"])
            reasons.append(body["_sollol_routing"]["reasoning"])
            history = [*history, body["message"], {"role": "user", "content": f"and {turn}?"}]
            # the gateway records where the conversation ran off the request path
            wait_for(lambda n=n: _affinities(live) > known + n, 30, "the conversation recorded")
        assert len(set(hosts)) == 1, hosts
        assert all("affinity" in r for r in reasons[1:]), reasons
