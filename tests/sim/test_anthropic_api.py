"""Ollama's Anthropic-compatible /v1/messages through the official ``anthropic`` client and as
raw SSE, translated as Ollama 0.32's anthropic.go translates it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import httpx
import pytest

from sollol.sim import SimFleet
from tests.sim.feature_fleet import PIXEL, feature_fleet

WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


@pytest.fixture
def client(url: str) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(base_url=url, api_key="ignored", max_retries=0) as c:
        yield c


def user(text: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": text}]


def sse(url: str, body: dict[str, object]) -> list[tuple[str, dict[str, object]]]:
    """The (event, data) pairs of a streamed /v1/messages answer."""
    r = httpx.post(url + "/v1/messages", json={**body, "stream": True})
    assert r.headers["content-type"] == "text/event-stream"
    events = []
    for block in r.text.strip().split("\n\n"):
        name, data = block.split("\n")
        events.append((name.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def test_max_tokens_is_the_exact_output_length(client: anthropic.Anthropic):
    m = client.messages.create(model="llama3.2", max_tokens=7, messages=user("Hello"))
    assert m.type == "message" and m.role == "assistant" and m.id.startswith("msg_")
    assert [b.type for b in m.content] == ["text"] and m.content[0].text
    assert m.stop_reason == "max_tokens" and m.usage.output_tokens == 7


def test_stream_events_come_in_the_messages_api_order(url: str):
    events = sse(url, {"model": "qwen3", "max_tokens": 8, "messages": user("Why?")})
    names = [name for name, _ in events]
    # thinking (4 of the 8 tokens) in block 0, text in block 1
    assert names == [
        "message_start",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "content_block_start",
        *["content_block_delta"] * 4,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[1][1]["content_block"] == {"type": "thinking", "thinking": ""}
    assert events[2][1]["delta"]["type"] == "thinking_delta" and events[2][1]["index"] == 0
    assert events[7][1]["content_block"] == {"type": "text", "text": ""}
    assert events[9][1]["index"] == 1
    assert events[-2][1]["delta"] == {"stop_reason": "max_tokens"}
    assert events[-2][1]["usage"]["output_tokens"] == 8
    assert events[0][1]["message"]["usage"]["input_tokens"] > 0  # estimated before the prompt


def test_tool_use_with_the_right_name_and_input(client: anthropic.Anthropic):
    m = client.messages.create(
        model="llama3.2", max_tokens=100, messages=user("Weather in Accra?"), tools=[WEATHER]
    )
    (block,) = m.content
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.input == {"city": "Accra"} and block.id.startswith("call_")
    assert m.stop_reason == "tool_use"


def test_streamed_tool_use_is_accumulated_by_the_sdk(client: anthropic.Anthropic, url: str):
    body = {"model": "llama3.2", "max_tokens": 100, "tools": [WEATHER]}
    with client.messages.stream(**body, messages=user("Weather in Hanoi?")) as stream:
        final = stream.get_final_message()
    (block,) = final.content
    assert block.type == "tool_use" and block.input == {"city": "Hanoi"}
    deltas = [
        d
        for n, d in sse(url, {**body, "messages": user("Weather in Hanoi?")})
        if n == "content_block_delta"
    ]
    assert [d["delta"]["type"] for d in deltas] == ["input_json_delta"]  # the whole call at once


def test_a_tool_result_is_answered_in_text(client: anthropic.Anthropic):
    first = client.messages.create(
        model="llama3.2", max_tokens=100, messages=user("Weather in Riga?"), tools=[WEATHER]
    )
    call = first.content[0]
    history = [
        *user("Weather in Riga?"),
        {"role": "assistant", "content": [call.model_dump(exclude_none=True)]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "cold"}],
        },
    ]
    m = client.messages.create(model="llama3.2", max_tokens=4, messages=history, tools=[WEATHER])
    assert [b.type for b in m.content] == ["text"] and m.usage.output_tokens == 4


def test_thinking_on_a_thinking_model_and_dropped_on_another(client: anthropic.Anthropic):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    m = client.messages.create(
        model="qwen3", max_tokens=10, thinking=thinking, messages=user("Why?")
    )
    assert [b.type for b in m.content] == ["thinking", "text"] and m.content[0].thinking
    m = client.messages.create(
        model="llama3.2", max_tokens=3, thinking=thinking, messages=user("Why?")
    )
    assert [b.type for b in m.content] == ["text"]  # Ollama relaxes thinking here, no 400
    off = client.messages.create(
        model="qwen3", max_tokens=3, thinking={"type": "disabled"}, messages=user("Why?")
    )
    assert [b.type for b in off.content] == ["text"]


def test_base64_images_count_on_a_vision_model(client: anthropic.Anthropic, url: str):
    image = {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL},
    }
    text = {"type": "text", "text": "What is it?"}
    plain = client.messages.create(
        model="gemma3", max_tokens=1, messages=[{"role": "user", "content": [text]}]
    )
    seen = client.messages.create(
        model="gemma3", max_tokens=1, messages=[{"role": "user", "content": [image, text]}]
    )
    assert seen.usage.input_tokens == plain.usage.input_tokens + 256
    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    r = httpx.post(
        url + "/v1/messages",
        json={
            "model": "gemma3",
            "max_tokens": 1,
            "messages": [{"role": "user", "content": [url_image]}],
        },
    )
    assert r.status_code == 400
    assert (
        r.json()["error"]["message"]
        == "invalid image source type: url. Only base64 images are supported."
    )


@pytest.mark.parametrize(
    ("body", "status", "kind", "message"),
    [
        ({"model": "nope", "max_tokens": 5}, 404, "not_found_error", "model 'nope' not found"),
        (
            {"model": "llama3.2"},
            400,
            "invalid_request_error",
            "max_tokens is required and must be positive",
        ),
        ({"model": "", "max_tokens": 5}, 400, "invalid_request_error", "model is required"),
    ],
)
def test_errors_come_back_in_anthropics_shape(url: str, body, status, kind, message):
    r = httpx.post(url + "/v1/messages", json={**body, "messages": user("x")})
    assert r.status_code == status
    err = r.json()
    assert err["type"] == "error" and err["error"] == {"type": kind, "message": message}
    assert err["request_id"].startswith("req_")
