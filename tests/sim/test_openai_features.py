"""Tools, structured outputs, reasoning and logprobs on the /v1 endpoints through the official
``openai`` client, translated as Ollama 0.32's openai.go translates them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import jsonschema
import openai
import pytest

from sollol.sim import SimFleet
from tests.sim.feature_fleet import PIXEL, WEATHER, feature_fleet

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "population": {"type": "integer", "minimum": 0},
        "districts": {"type": "array", "items": {"type": "string"}, "minItems": 2},
    },
    "required": ["city", "population", "districts"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


@pytest.fixture
def oai(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=url + "/v1", api_key="ollama", max_retries=0) as client:
        yield client


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_tool_call_with_json_string_arguments_and_finish_reason_tool_calls(oai: openai.OpenAI):
    r = oai.chat.completions.create(
        model="llama3.2", messages=ask("Weather in Nairobi in celsius?"), tools=[WEATHER]
    )
    choice = r.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content == ""
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_") and len(call.id) == 13
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Nairobi", "unit": "celsius"}


def test_streamed_tool_call_is_one_delta_then_the_finish_chunk(oai: openai.OpenAI):
    chunks = list(
        oai.chat.completions.create(
            model="llama3.2",
            messages=ask("Weather in Quito?"),
            tools=[WEATHER],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    calls = [c for c in chunks if c.choices and c.choices[0].delta.tool_calls]
    assert len(calls) == 1 and calls[0] is chunks[0]
    (call,) = calls[0].choices[0].delta.tool_calls
    assert json.loads(call.function.arguments)["city"] == "Quito" and call.index == 0
    assert chunks[-2].choices[0].finish_reason == "tool_calls"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0


def test_a_tool_result_found_by_tool_call_id_is_answered_in_text(oai: openai.OpenAI):
    first = oai.chat.completions.create(
        model="llama3.2", messages=ask("Weather in Bern?"), tools=[WEATHER]
    )
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *ask("Weather in Bern?"),
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temp": 12}'},
    ]
    r = oai.chat.completions.create(
        model="llama3.2", messages=messages, tools=[WEATHER], max_tokens=5
    )
    assert r.choices[0].message.tool_calls is None and r.choices[0].message.content
    assert r.choices[0].finish_reason == "length" and r.usage.completion_tokens == 5


def test_response_format_json_object_and_json_schema(oai: openai.OpenAI):
    r = oai.chat.completions.create(
        model="llama3.2", messages=ask("A city as JSON"), response_format={"type": "json_object"}
    )
    assert isinstance(json.loads(r.choices[0].message.content), dict)
    r = oai.chat.completions.create(
        model="llama3.2",
        messages=ask("A city"),
        response_format={"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}},
    )
    jsonschema.validate(json.loads(r.choices[0].message.content), SCHEMA)
    assert r.choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("effort", "reasoning_tokens"), [("minimal", 5), ("medium", 10), ("xhigh", 15)]
)
def test_reasoning_effort_maps_to_think_levels(oai: openai.OpenAI, effort, reasoning_tokens):
    chunks = list(
        oai.chat.completions.create(
            model="qwen3", messages=ask("Why?"), max_tokens=20, reasoning_effort=effort, stream=True
        )
    )
    reasoning = [c for c in chunks if c.choices and getattr(c.choices[0].delta, "reasoning", None)]
    assert len(reasoning) == reasoning_tokens
    assert all(c.choices[0].delta.content == "" for c in reasoning)
    whole = oai.chat.completions.create(
        model="qwen3", messages=ask("Why?"), max_tokens=20, reasoning_effort=effort
    )
    assert whole.choices[0].message.reasoning == "".join(
        c.choices[0].delta.reasoning for c in reasoning
    )
    assert whole.usage.completion_tokens == 20


def test_reasoning_effort_none_turns_thinking_off_and_bad_values_are_400(
    oai: openai.OpenAI, url: str
):
    r = oai.chat.completions.create(
        model="qwen3", messages=ask("Why?"), max_tokens=4, reasoning_effort="none"
    )
    assert getattr(r.choices[0].message, "reasoning", None) is None
    body = {"model": "qwen3", "messages": ask("x"), "reasoning_effort": "extreme"}
    err = httpx.post(url + "/v1/chat/completions", json=body)
    assert err.status_code == 400
    assert err.json()["error"]["message"].startswith('invalid reasoning value: "extreme"')
    with pytest.raises(openai.BadRequestError) as bad:
        oai.chat.completions.create(model="llama3.2", messages=ask("x"), reasoning_effort="high")
    assert bad.value.body["message"] == '"llama3.2" does not support thinking'


def test_max_completion_tokens_is_not_read_as_in_ollama(oai: openai.OpenAI):
    # Ollama 0.32's openai.go maps max_tokens only; newer clients' max_completion_tokens is
    # ignored, so the answer is as long as with no limit (a gateway has to translate it).
    free = oai.chat.completions.create(model="llama3.2", messages=ask("Tell me"), seed=9)
    capped = oai.chat.completions.create(
        model="llama3.2", messages=ask("Tell me"), seed=9, max_completion_tokens=3
    )
    assert capped.usage.completion_tokens == free.usage.completion_tokens != 3


def test_logprobs_on_chat_completions(oai: openai.OpenAI):
    r = oai.chat.completions.create(
        model="llama3.2", messages=ask("x"), max_tokens=4, logprobs=True, top_logprobs=2
    )
    content = r.choices[0].logprobs.content
    assert "".join(t.token for t in content) == r.choices[0].message.content and len(content) == 4
    assert all(len(t.top_logprobs) == 2 and t.top_logprobs[0].token == t.token for t in content)


def test_images_as_data_uris_reach_a_vision_model(oai: openai.OpenAI):
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PIXEL}"}}
    text = {"type": "text", "text": "What is this?"}
    plain = oai.chat.completions.create(
        model="gemma3", messages=[{"role": "user", "content": [text]}], max_tokens=1
    )
    seen = oai.chat.completions.create(
        model="gemma3", messages=[{"role": "user", "content": [text, part]}], max_tokens=1
    )
    assert seen.usage.prompt_tokens == plain.usage.prompt_tokens + 256
