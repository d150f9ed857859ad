"""The official ``ollama`` Python client (sync ``Client`` and ``AsyncClient``) through the gateway,
with nothing changed but ``host``: every call answers as one Ollama 0.32 would."""

from __future__ import annotations

import asyncio
import json

import jsonschema
import ollama
import pytest

from tests.conformance.conftest import (
    EMBED_DIM,
    PERSON_SCHEMA,
    PIXEL,
    WEATHER_QUESTION,
    WEATHER_TOOL,
)

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "Tell me about the sea."}]


@pytest.fixture(scope="module")
def client(gateway):
    with ollama.Client(host=gateway.url) as c:
        yield c


def test_chat_generates_exactly_num_predict_tokens(client):
    r = client.chat(model="llama3.2", messages=HI, options={"num_predict": 12})
    assert r.message.role == "assistant" and r.message.content
    assert r.eval_count == 12
    assert r.done and r.done_reason == "length"


def test_chat_stream_ends_with_one_done_line_carrying_the_counts(client):
    chunks = list(
        client.chat(model="llama3.2", messages=HI, stream=True, options={"num_predict": 9})
    )
    assert [c.done for c in chunks].count(True) == 1 and chunks[-1].done
    assert chunks[-1].eval_count == 9
    assert "".join(c.message.content for c in chunks).strip()


def test_generate_and_generate_stream(client):
    r = client.generate(model="llama3.2", prompt="Once upon a time", options={"num_predict": 7})
    assert r.response and r.eval_count == 7
    parts = list(
        client.generate(model="llama3.2", prompt="Hi", stream=True, options={"num_predict": 5})
    )
    assert parts[-1].done and parts[-1].eval_count == 5


def test_embed_returns_one_normalized_vector_per_input_and_honours_dimensions(client):
    r = client.embed(model="nomic-embed-text", input=["first text", "second text"])
    assert [len(v) for v in r.embeddings] == [EMBED_DIM, EMBED_DIM]
    assert abs(sum(x * x for x in r.embeddings[0]) - 1.0) < 1e-3
    cut = client.embed(model="nomic-embed-text", input="first text", dimensions=16)
    assert len(cut.embeddings[0]) == 16
    # the same text gets the same vector whichever host embeds it
    again = client.embed(model="nomic-embed-text", input="first text")
    assert again.embeddings[0] == r.embeddings[0]


def test_embed_with_null_options_as_langchain_sends_them(client):
    r = client.embed(
        model="nomic-embed-text", input="x", options={"num_ctx": None, "temperature": None}
    )
    assert len(r.embeddings[0]) == EMBED_DIM


def test_list_show_and_ps(client):
    names = {m.model for m in client.list().models}
    assert {"llama3.2:latest", "qwen3:latest", "gemma3:latest", "nomic-embed-text:latest"} <= names
    shown = client.show("qwen3")
    assert {"completion", "tools", "thinking"} <= set(shown.capabilities or [])
    assert "vision" in (client.show("gemma3").capabilities or [])
    assert {m.model for m in client.ps().models} >= {"llama3.2:latest"}


def test_tool_call_has_the_right_name_and_arguments(client):
    r = client.chat(
        model="llama3.2",
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=[WEATHER_TOOL],
    )
    (call,) = r.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments["city"] == "Paris"
    assert call.function.arguments["unit"] in ("celsius", "fahrenheit")
    assert r.done_reason == "stop"


def test_tool_call_streamed(client):
    chunks = list(
        client.chat(
            model="llama3.2",
            messages=[{"role": "user", "content": WEATHER_QUESTION}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [c for ch in chunks for c in (ch.message.tool_calls or [])]
    assert [c.function.name for c in calls] == ["get_weather"]
    assert calls[0].function.arguments["city"] == "Paris"


def test_tools_go_only_to_the_host_whose_copy_has_tools(gateway):
    import httpx

    body = {
        "model": "llama3.2",
        "messages": [{"role": "user", "content": WEATHER_QUESTION}],
        "tools": [WEATHER_TOOL],
        "stream": False,
    }
    hosts = {
        httpx.post(f"{gateway.url}/api/chat", json=body, timeout=60).headers["X-SOLLOL-Host"]
        for _ in range(6)
    }
    assert hosts == {"conf-a"}  # conf-b's llama3.2 reports no tools


def test_a_model_without_tools_anywhere_is_ollamas_400(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3", messages=HI, tools=[WEATHER_TOOL])
    assert info.value.status_code == 400
    assert "registry.ollama.ai/library/llama3:latest does not support tools" in info.value.error


def test_format_schema_answer_parses_and_fits_the_schema(client):
    r = client.chat(model="llama3.2", messages=HI, format=PERSON_SCHEMA)
    jsonschema.validate(json.loads(r.message.content), PERSON_SCHEMA)
    g = client.generate(model="llama3.2", prompt="a person", format="json")
    assert isinstance(json.loads(g.response), dict)


@pytest.mark.parametrize("think", [True, "low", "high"])
def test_thinking_model_thinks(client, think):
    r = client.chat(model="qwen3", messages=HI, think=think, options={"num_predict": 64})
    assert r.message.thinking
    assert r.eval_count == 64  # thinking and answer share num_predict, as in Ollama


def test_thinking_asked_of_a_model_that_cannot_think_is_ollamas_400(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="llama3.2", messages=HI, think=True)
    assert info.value.status_code == 400 and "does not support thinking" in info.value.error


def test_vision_model_takes_images_and_counts_them_in_the_prompt(client):
    plain = client.chat(model="gemma3", messages=[{"role": "user", "content": "what is this?"}])
    seen = client.chat(
        model="gemma3", messages=[{"role": "user", "content": "what is this?", "images": [PIXEL]}]
    )
    assert seen.prompt_eval_count > plain.prompt_eval_count
    with pytest.raises(ollama.ResponseError, match="does not support vision"):
        client.chat(
            model="llama3.2", messages=[{"role": "user", "content": "x", "images": [PIXEL]}]
        )


def test_keep_alive_logprobs_and_truncate_are_accepted(client):
    r = client.chat(
        model="llama3.2",
        messages=HI,
        keep_alive="10m",
        logprobs=True,
        top_logprobs=2,
        options={"num_predict": 4},
    )
    assert r.eval_count == 4
    assert r.logprobs and len(r.logprobs) == 4
    e = client.embed(model="nomic-embed-text", input="x", truncate=True, keep_alive=0)
    assert len(e.embeddings) == 1


def test_unknown_model_is_ollamas_404(client):
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(model="no-such-model", messages=HI)
    assert info.value.status_code == 404 and "not found" in info.value.error


def test_async_client_chat_stream_and_embed(gateway):
    async def run():
        async with ollama.AsyncClient(host=gateway.url) as client:
            r = await client.chat(model="llama3.2", messages=HI, options={"num_predict": 6})
            parts = [
                p
                async for p in await client.chat(
                    model="llama3.2", messages=HI, stream=True, options={"num_predict": 3}
                )
            ]
            many = await asyncio.gather(
                *(client.embed(model="nomic-embed-text", input=f"t{i}") for i in range(4))
            )
            return r, parts, many

    r, parts, many = asyncio.run(run())
    assert r.eval_count == 6
    assert parts[-1].done and parts[-1].eval_count == 3
    assert all(len(m.embeddings[0]) == EMBED_DIM for m in many)
