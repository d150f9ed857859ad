"""The native API through the official ``ollama`` Python client, as a real Ollama answers it."""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import ollama
import pytest

from sollol.sim import SimFleet
from tests.sim.conftest import node


@pytest.fixture
def client(url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=url) as c:
        yield c


def test_chat_non_stream_has_message_and_integer_metrics(client: ollama.Client):
    r = client.chat(
        model="llama3.2",
        messages=[{"role": "user", "content": "Why blue?"}],
        options={"num_predict": 12},
    )
    assert r.done and r.done_reason == "length"
    assert r.message.role == "assistant" and r.message.content
    assert r.model == "llama3.2"  # echoed as sent, not normalized
    assert r.eval_count == 12
    for metric in (
        "total_duration",
        "load_duration",
        "prompt_eval_count",
        "prompt_eval_duration",
        "eval_duration",
    ):
        assert isinstance(getattr(r, metric), int) and getattr(r, metric) > 0, metric
    assert r.total_duration >= r.eval_duration


def test_chat_stream_sends_one_token_per_chunk_then_done(client: ollama.Client):
    chunks = list(
        client.chat(
            model="llama3.2",
            stream=True,
            messages=[{"role": "user", "content": "count"}],
            options={"num_predict": 7},
        )
    )
    assert [c.done for c in chunks] == [False] * 7 + [True]
    assert all(c.message.content for c in chunks[:-1])
    assert chunks[-1].message.content == "" and chunks[-1].eval_count == 7
    assert chunks[0].eval_count is None  # metrics only on the final object


def test_generate_stream_and_non_stream_give_the_same_text(client: ollama.Client):
    body = {"model": "llama3.2", "prompt": "A story", "options": {"num_predict": 9, "seed": 4}}
    whole = client.generate(**body)
    parts = list(client.generate(**body, stream=True))
    assert whole.response == "".join(p.response for p in parts)
    assert parts[-1].done and parts[-1].context  # generate's deprecated context is still sent
    assert whole.eval_count == 9


def test_output_length_without_num_predict_is_reproducible(client: ollama.Client):
    body = {"model": "llama3.2", "prompt": "same prompt", "options": {"seed": 7}}
    first, second = client.generate(**body), client.generate(**body)
    assert first.response == second.response and first.eval_count == second.eval_count
    assert first.done_reason == "stop"


def test_model_names_match_case_insensitively_with_latest_default(client: ollama.Client):
    r = client.generate(model="LLAMA3.2:Latest", prompt="hi", options={"num_predict": 1})
    assert r.model == "LLAMA3.2:Latest"


@pytest.mark.parametrize(
    ("call", "status", "message"),
    [
        # wording differs per endpoint (docs/ollama-api.md §4)
        (
            lambda c: c.chat(model="nope", messages=[{"role": "user", "content": "x"}]),
            404,
            "model 'nope' not found",
        ),
        (lambda c: c.generate(model="nope", prompt="x"), 404, "model 'nope' not found"),
        (
            lambda c: c.embed(model="nope", input="x"),
            404,
            'model "nope" not found, try pulling it first',
        ),
        (
            lambda c: c.embeddings(model="nope", prompt="x"),
            404,
            'model "nope" not found, try pulling it first',
        ),
        (lambda c: c.show("nope"), 404, "model 'nope:latest' not found"),
        (
            lambda c: c.chat(model="nomic-embed-text", messages=[{"role": "user", "content": "x"}]),
            400,
            '"nomic-embed-text" does not support chat',
        ),
        (
            lambda c: c.generate(model="nomic-embed-text", prompt="x"),
            400,
            '"nomic-embed-text" does not support generate',
        ),
        (
            lambda c: c.chat(
                model="llama3.2", messages=[{"role": "user", "content": "x"}], think=True
            ),
            400,
            '"llama3.2" does not support thinking',
        ),
    ],
)
def test_errors_carry_ollamas_status_and_wording(client: ollama.Client, call, status, message):
    with pytest.raises(ollama.ResponseError) as err:
        call(client)
    assert err.value.status_code == status
    assert err.value.error == message


def test_embed_is_normalized_batched_and_dimension_cut(client: ollama.Client):
    r = client.embed(model="nomic-embed-text", input=["first text", "second text"])
    assert len(r.embeddings) == 2 and all(len(v) == 64 for v in r.embeddings)
    assert math.isclose(sum(x * x for x in r.embeddings[0]), 1.0, rel_tol=1e-5)
    assert r.embeddings[0] != r.embeddings[1]
    cut = client.embed(model="nomic-embed-text", input="first text", dimensions=16)
    assert len(cut.embeddings[0]) == 16
    assert math.isclose(sum(x * x for x in cut.embeddings[0]), 1.0, rel_tol=1e-5)


def test_legacy_embeddings_are_not_normalized(client: ollama.Client):
    r = client.embeddings(model="nomic-embed-text", prompt="some text")
    assert len(r.embedding) == 64
    assert sum(x * x for x in r.embedding) > 1.01


def test_embeddings_are_identical_across_nodes(fleet: SimFleet):
    a_url, b_url = fleet.urls["node-a"], fleet.urls["node-b"]
    with ollama.Client(host=a_url) as a, ollama.Client(host=b_url) as b:
        assert (
            a.embed(model="nomic-embed-text", input="route me").embeddings
            == b.embed(model="Nomic-Embed-Text:latest", input="route me").embeddings
        )


def test_list_show_and_ps_parse_in_the_client(client: ollama.Client):
    names = [m.model for m in client.list().models]
    assert sorted(names) == ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5-coder:7b"]
    shown = client.show("llama3.2")
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "llama"
    assert shown.details.family == "llama" and "completion" in shown.capabilities
    running = client.ps().models
    assert "llama3.2:latest" in [m.model for m in running]
    llama = next(m for m in running if m.model == "llama3.2:latest")
    assert llama.size_vram == llama.size > 0 and llama.expires_at is not None


def test_load_only_and_unload_answer_single_objects(start_fleet):
    f = start_fleet(node("solo"))
    with ollama.Client(host=f.urls["solo"]) as c:
        loaded = c.generate(model="qwen2.5-coder:7b", prompt="")
        assert loaded.done_reason == "load"
        assert "qwen2.5-coder:7b" in [m.model for m in c.ps().models]
        # stream unset (= stream) still answers one JSON object for load/unload
        r = httpx.post(
            f.urls["solo"] + "/api/chat", json={"model": "qwen2.5-coder:7b", "keep_alive": 0}
        )
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert r.json()["done_reason"] == "unload" and r.json()["message"]["content"] == ""
        assert "qwen2.5-coder:7b" not in [m.model for m in c.ps().models]


def test_cpu_node_reports_size_vram_zero(start_fleet):
    f = start_fleet(node("cpu", vram_mb=0, tags=["cpu"]))
    with ollama.Client(host=f.urls["cpu"]) as c:
        (llama,) = c.ps().models
    assert llama.size > 0 and llama.size_vram == 0
