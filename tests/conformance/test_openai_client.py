"""The official ``openai`` Python client pointed at the gateway's ``/v1``: chat, completions,
embeddings, models and responses, streamed and not, as Ollama's OpenAI compatibility serves them."""

from __future__ import annotations

import base64
import json
import struct

import jsonschema
import openai
import pytest

from tests.conformance.conftest import EMBED_DIM, PERSON_SCHEMA, WEATHER_QUESTION, WEATHER_TOOL

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "Tell me about the sea."}]


@pytest.fixture(scope="module")
def client(gateway):
    with openai.OpenAI(base_url=f"{gateway.url}/v1", api_key="ollama", max_retries=0) as c:
        yield c


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_chat_obeys_the_token_limit_exactly(client, limit):
    r = client.chat.completions.create(model="llama3.2", messages=HI, **{limit: 11})
    assert r.usage.completion_tokens == 11
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content
    assert r.id.startswith("chatcmpl-") and r.system_fingerprint == "fp_ollama"


def test_chat_stream_with_usage(client):
    chunks = list(
        client.chat.completions.create(
            model="llama3.2",
            messages=HI,
            max_tokens=8,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["length"]
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 8


def test_chat_tool_call_with_the_right_name_and_arguments(client):
    r = client.chat.completions.create(
        model="llama3.2",
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=[WEATHER_TOOL],
    )
    (call,) = r.choices[0].message.tool_calls
    args = json.loads(call.function.arguments)
    assert call.function.name == "get_weather" and args["city"] == "Paris"
    assert r.choices[0].finish_reason == "tool_calls"


def test_chat_tool_call_streamed(client):
    chunks = list(
        client.chat.completions.create(
            model="llama3.2",
            messages=[{"role": "user", "content": WEATHER_QUESTION}],
            tools=[WEATHER_TOOL],
            stream=True,
        )
    )
    calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert [tc.function.name for tc in calls] == ["get_weather"]
    assert json.loads(calls[0].function.arguments)["city"] == "Paris"


def test_tool_choice_none_sends_no_tools(client):
    r = client.chat.completions.create(
        model="llama3.2",
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=[WEATHER_TOOL],
        tool_choice="none",
        max_tokens=5,
    )
    assert r.choices[0].message.tool_calls is None and r.usage.completion_tokens == 5


@pytest.mark.parametrize(
    "response_format",
    [
        {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON_SCHEMA}},
        {"type": "json_object"},
    ],
)
def test_response_format_gives_json(client, response_format):
    r = client.chat.completions.create(
        model="llama3.2", messages=HI, response_format=response_format
    )
    value = json.loads(r.choices[0].message.content)
    if response_format["type"] == "json_schema":
        jsonschema.validate(value, PERSON_SCHEMA)


def test_reasoning_effort_makes_a_thinking_model_reason(client):
    r = client.chat.completions.create(
        model="qwen3", messages=HI, reasoning_effort="low", max_tokens=40
    )
    assert r.choices[0].message.model_extra.get("reasoning")
    assert r.usage.completion_tokens == 40


def test_completions_stream_and_not(client):
    r = client.completions.create(model="llama3.2", prompt="Once upon a time", max_tokens=6)
    assert r.choices[0].text and r.usage.completion_tokens == 6
    parts = list(
        client.completions.create(model="llama3.2", prompt="Hi", max_tokens=4, stream=True)
    )
    assert parts[-1].choices[0].finish_reason == "length"
    assert "".join(p.choices[0].text for p in parts)


def test_embeddings_float_and_base64(client):
    r = client.embeddings.create(model="nomic-embed-text", input=["a", "b"])
    assert [len(d.embedding) for d in r.data] == [EMBED_DIM, EMBED_DIM]
    b64 = client.embeddings.create(model="nomic-embed-text", input="a", encoding_format="base64")
    raw = base64.b64decode(b64.data[0].embedding)  # asked for explicitly: the client keeps it
    vector = struct.unpack(f"<{EMBED_DIM}f", raw)  # little-endian float32, as OpenAI sends it
    assert vector == pytest.approx(r.data[0].embedding, abs=1e-6)
    cut = client.embeddings.create(model="nomic-embed-text", input="a", dimensions=8)
    assert len(cut.data[0].embedding) == 8


def test_models_list_and_retrieve(client):
    ids = {m.id for m in client.models.list()}
    assert {"llama3.2:latest", "qwen3:latest", "nomic-embed-text:latest"} <= ids
    assert client.models.retrieve("qwen3:latest").id == "qwen3:latest"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_responses_create(client):
    r = client.responses.create(
        model="llama3.2", input="Tell me about the sea.", max_output_tokens=9
    )
    assert r.output_text and r.usage.output_tokens == 9
    assert r.status == "incomplete"  # cut by max_output_tokens


def test_responses_stream_delivers_the_text_and_a_final_response(client):
    events = list(
        client.responses.create(
            model="llama3.2", input="Hi there", max_output_tokens=7, stream=True
        )
    )
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] in (
        "response.completed",
        "response.incomplete",
    )
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text and events[-1].response.output_text == text
    assert events[-1].response.usage.output_tokens == 7


def test_responses_function_call(client):
    tool = {"type": "function", **WEATHER_TOOL["function"]}
    r = client.responses.create(model="llama3.2", input=WEATHER_QUESTION, tools=[tool])
    (call,) = [o for o in r.output if o.type == "function_call"]
    assert call.name == "get_weather" and json.loads(call.arguments)["city"] == "Paris"


def test_errors_come_back_in_openai_shape(client):
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="no-such-model", messages=HI)
    assert "not found" in info.value.message
    with pytest.raises(openai.BadRequestError, match="does not support tools"):
        client.chat.completions.create(model="llama3", messages=HI, tools=[WEATHER_TOOL])


def test_chat_logprobs_one_entry_per_generated_token(client):
    r = client.chat.completions.create(
        model="llama3.2", messages=HI, max_tokens=5, logprobs=True, top_logprobs=2
    )
    entries = r.choices[0].logprobs.content
    assert len(entries) == 5 and all(e.logprob <= 0 for e in entries)
    assert all(len(e.top_logprobs) == 2 for e in entries)
