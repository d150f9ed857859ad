"""The /v1 endpoints through the official ``openai`` client, shaped as Ollama shapes them."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator

import httpx
import openai
import pytest


@pytest.fixture
def oai(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def test_chat_completion_with_usage(oai: openai.OpenAI):
    r = oai.chat.completions.create(
        model="llama3.2", max_tokens=6, messages=[{"role": "user", "content": "Say hello"}]
    )
    assert r.object == "chat.completion" and r.id.startswith("chatcmpl-")
    assert r.system_fingerprint == "fp_ollama" and r.model == "llama3.2"
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 6
    assert r.usage.total_tokens == r.usage.prompt_tokens + 6


def test_chat_stream_has_role_first_finish_chunk_then_usage(oai: openai.OpenAI):
    chunks = list(
        oai.chat.completions.create(
            model="llama3.2",
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
            messages=[{"role": "user", "content": "Say hello"}],
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(c.choices[0].delta.role is None for c in chunks[1:-2])
    content = [c.choices[0].delta.content for c in chunks[:-2]]
    assert len(content) == 4 and all(content)
    finish = chunks[-2].choices[0]
    assert finish.finish_reason == "length" and finish.delta.content is None
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1


def test_completions_stream_and_not(oai: openai.OpenAI):
    whole = oai.completions.create(model="llama3.2", prompt="Once upon", max_tokens=5, seed=3)
    assert whole.object == "text_completion" and whole.id.startswith("cmpl-")
    assert whole.usage.completion_tokens == 5
    parts = list(
        oai.completions.create(
            model="llama3.2", prompt="Once upon", max_tokens=5, seed=3, stream=True
        )
    )
    assert "".join(p.choices[0].text for p in parts) == whole.choices[0].text
    assert parts[-1].choices[0].finish_reason == "length" and parts[-1].choices[0].text == ""


def test_embeddings_float_and_base64_agree(oai: openai.OpenAI):
    floats = oai.embeddings.create(model="nomic-embed-text", input=["a b c", "d e f"])
    assert [d.index for d in floats.data] == [0, 1] and len(floats.data[0].embedding) == 64
    assert math.isclose(sum(x * x for x in floats.data[0].embedding), 1.0, rel_tol=1e-5)
    raw = httpx.post(
        str(oai.base_url) + "embeddings",
        json={"model": "nomic-embed-text", "input": "a b c", "encoding_format": "base64"},
    ).json()
    decoded = struct.unpack("<64f", base64.b64decode(raw["data"][0]["embedding"]))
    assert all(
        math.isclose(x, y, rel_tol=1e-6, abs_tol=1e-7)
        for x, y in zip(decoded, floats.data[0].embedding, strict=True)
    )
    cut = oai.embeddings.create(model="nomic-embed-text", input="a b c", dimensions=8)
    assert len(cut.data[0].embedding) == 8


def test_models_list_and_retrieve(oai: openai.OpenAI):
    ids = sorted(m.id for m in oai.models.list())
    assert ids == ["llama3.2:latest", "nomic-embed-text:latest", "qwen2.5-coder:7b"]
    one = oai.models.retrieve("llama3.2")
    assert one.id == "llama3.2" and one.owned_by == "library" and one.created > 0


def test_errors_use_the_openai_envelope(oai: openai.OpenAI, url: str):
    with pytest.raises(openai.NotFoundError) as err:
        oai.chat.completions.create(model="missing", messages=[{"role": "user", "content": "x"}])
    assert err.value.body == {
        "message": "model 'missing' not found",
        "type": "not_found_error",
        "param": None,
        "code": None,
    }
    r = httpx.post(url + "/v1/chat/completions", json={"model": "llama3.2", "messages": []})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "[] is too short - 'messages'"
    assert r.json()["error"]["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        oai.models.retrieve("missing")
