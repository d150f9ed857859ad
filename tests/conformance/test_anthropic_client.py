"""The official ``anthropic`` Python client pointed at the gateway: Messages, streamed and not,
with tools and thinking, as Ollama's Anthropic compatibility serves them (the key is not checked)."""

from __future__ import annotations

import anthropic
import pytest

from tests.conformance.conftest import WEATHER_QUESTION, WEATHER_TOOL

pytestmark = pytest.mark.integration
HI = [{"role": "user", "content": "Tell me about the sea."}]
TOOL = {
    "name": WEATHER_TOOL["function"]["name"],
    "description": WEATHER_TOOL["function"]["description"],
    "input_schema": WEATHER_TOOL["function"]["parameters"],
}


@pytest.fixture(scope="module")
def client(gateway):
    with anthropic.Anthropic(base_url=gateway.url, api_key="ollama", max_retries=0) as c:
        yield c


def test_message_obeys_max_tokens_exactly(client):
    m = client.messages.create(model="llama3.2", max_tokens=10, messages=HI, system="Be brief.")
    assert m.type == "message" and m.role == "assistant"
    assert m.content[0].type == "text" and m.content[0].text
    assert m.usage.output_tokens == 10 and m.stop_reason == "max_tokens"
    assert m.id.startswith("msg_")


def test_stream_text_and_final_message(client):
    with client.messages.stream(model="llama3.2", max_tokens=8, messages=HI) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.content[0].text == text
    assert final.usage.output_tokens == 8 and final.stop_reason == "max_tokens"


def test_tool_use_with_the_right_name_and_input(client):
    m = client.messages.create(
        model="llama3.2",
        max_tokens=200,
        tools=[TOOL],
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    )
    (use,) = [b for b in m.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input["city"] == "Paris"
    assert m.stop_reason == "tool_use"


def test_tool_use_streamed_and_accumulated_by_the_sdk(client):
    with client.messages.stream(
        model="llama3.2",
        max_tokens=200,
        tools=[TOOL],
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
    ) as stream:
        final = stream.get_final_message()
    (use,) = [b for b in final.content if b.type == "tool_use"]
    assert use.name == "get_weather" and use.input["city"] == "Paris"


def test_thinking_on_a_thinking_model_and_relaxed_on_another(client):
    thinking = {"type": "enabled", "budget_tokens": 1024}
    m = client.messages.create(model="qwen3", max_tokens=64, messages=HI, thinking=thinking)
    assert m.content[0].type == "thinking" and m.content[0].thinking
    # as Ollama does for Anthropic clients: a model that cannot think just answers
    plain = client.messages.create(model="llama3.2", max_tokens=5, messages=HI, thinking=thinking)
    assert [b.type for b in plain.content] == ["text"]


def test_errors_come_back_in_anthropic_shape(client):
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.create(model="no-such-model", max_tokens=5, messages=HI)
    assert info.value.body["type"] == "error"
    assert info.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.BadRequestError, match="max_tokens"):
        client.messages.create(model="llama3.2", max_tokens=0, messages=HI)


def test_count_tokens(client):
    counted = client.messages.count_tokens(model="llama3.2", messages=HI, system="Be brief.")
    # Ollama's estimate: (9 system + 4 role + 22 text characters) / 4
    assert counted.input_tokens == 8
