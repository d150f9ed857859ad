"""Ollama's (non-stateful) OpenAI Responses endpoint, /v1/responses, through the official
``openai`` client and as raw SSE, as Ollama 0.32's responses.go answers it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest

from sollol.sim import SimFleet
from tests.sim.feature_fleet import WEATHER, feature_fleet

TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "the weather",
    "parameters": WEATHER["function"]["parameters"],
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


@pytest.fixture
def oai(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def test_max_output_tokens_is_the_exact_length(oai: openai.OpenAI):
    r = oai.responses.create(model="llama3.2", input="Say hello", max_output_tokens=6)
    assert r.object == "response" and r.status == "completed" and r.id.startswith("resp_")
    (item,) = r.output
    assert item.type == "message" and item.role == "assistant" and r.output_text
    assert r.usage.output_tokens == 6 and r.usage.total_tokens == r.usage.input_tokens + 6
    assert r.max_output_tokens == 6 and r.store is False  # the request echoed, nothing stored


def test_stream_events_and_the_final_response(oai: openai.OpenAI):
    with oai.responses.stream(model="qwen3", input="Why?", max_output_tokens=10) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds.count("response.reasoning_summary_text.delta") == 5  # think: half of 10
    assert kinds.count("response.output_text.delta") == 5
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [item.type for item in final.output] == ["reasoning", "message"]
    assert final.output[0].summary[0].text and final.usage.output_tokens == 10


def test_sequence_numbers_count_up_from_zero(url: str):
    body = {"model": "llama3.2", "input": "x", "max_output_tokens": 3, "stream": True}
    r = httpx.post(url + "/v1/responses", json=body)
    events = [json.loads(block.split("data: ", 1)[1]) for block in r.text.strip().split("\n\n")]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


def test_function_call_items_with_json_string_arguments(oai: openai.OpenAI):
    r = oai.responses.create(model="llama3.2", input="Weather in Tokyo in celsius?", tools=[TOOL])
    (call,) = r.output
    assert (
        call.type == "function_call" and call.name == "get_weather" and call.status == "completed"
    )
    assert json.loads(call.arguments) == {"city": "Tokyo", "unit": "celsius"}
    assert call.call_id.startswith("call_")
    with oai.responses.stream(model="llama3.2", input="Weather in Oslo?", tools=[TOOL]) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_response()
    assert kinds.count("response.function_call_arguments.delta") == 1  # the whole call at once
    assert json.loads(final.output[0].arguments)["city"] == "Oslo"


def test_a_function_call_output_is_answered_in_text(oai: openai.OpenAI):
    history = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "type": "function_call",
            "call_id": "c1",
            "name": "get_weather",
            "arguments": '{"city": "Oslo"}',
        },
        {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
    ]
    r = oai.responses.create(model="llama3.2", input=history, tools=[TOOL], max_output_tokens=4)
    assert [item.type for item in r.output] == ["message"] and r.usage.output_tokens == 4


def test_json_schema_text_format(oai: openai.OpenAI):
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "n": {"type": "integer"}},
        "required": ["name", "n"],
    }
    r = oai.responses.create(
        model="llama3.2",
        input="A city",
        text={"format": {"type": "json_schema", "name": "city", "schema": schema}},
    )
    jsonschema.validate(json.loads(r.output_text), schema)


def test_reasoning_effort_and_errors(oai: openai.OpenAI, url: str):
    r = oai.responses.create(
        model="qwen3", input="Why?", reasoning={"effort": "none"}, max_output_tokens=3
    )
    assert [item.type for item in r.output] == ["message"]
    with pytest.raises(openai.BadRequestError) as err:
        oai.responses.create(model="llama3.2", input="x", reasoning={"effort": "high"})
    assert err.value.body["message"] == '"llama3.2" does not support thinking'
    with pytest.raises(openai.NotFoundError):
        oai.responses.create(model="missing", input="x")
    bad = httpx.post(url + "/v1/responses", json={"model": "llama3.2", "input": [{"content": "x"}]})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"] == "input[0]: input item missing required 'type' field"
