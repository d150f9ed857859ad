"""Capabilities, tool calls, thinking and images through the official ``ollama`` client, as
Ollama 0.32 answers them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import httpx
import jsonschema
import ollama
import pytest

from sollol.sim import SimFleet
from tests.sim.feature_fleet import ADD, PIXEL, WEATHER, feature_fleet


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


@pytest.fixture
def client(url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=url) as c:
        yield c


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


@pytest.mark.parametrize(
    ("model", "capabilities"),
    [
        ("llama3.2", ["completion", "tools"]),
        ("llama3", ["completion"]),
        ("qwen3", ["completion", "tools", "thinking"]),
        ("gemma3", ["completion", "vision"]),
        ("house-model", ["completion", "thinking"]),  # the profile's list wins over the family
        ("nomic-embed-text", ["embedding"]),
    ],
)
def test_show_and_tags_report_each_models_capabilities(
    client: ollama.Client, url: str, model, capabilities
):
    assert client.show(model).capabilities == capabilities
    tags = httpx.get(url + "/api/tags").json()["models"]  # the client's model drops the field
    (tag,) = [m for m in tags if m["name"].split(":")[0] == model]
    assert tag["capabilities"] == capabilities


def test_vision_models_show_projector_info(client: ollama.Client, url: str):
    shown = client.show("gemma3")
    assert shown.details.family == "gemma3" and shown.modelinfo["general.architecture"] == "gemma3"
    raw = httpx.post(url + "/api/show", json={"model": "gemma3"}).json()
    assert raw["projector_info"]["clip.has_vision_encoder"] is True
    assert "projector_info" not in httpx.post(url + "/api/show", json={"model": "qwen3"}).json()


def test_tool_call_picks_the_tool_the_message_names_and_fills_its_schema(client: ollama.Client):
    r = client.chat(
        model="llama3.2",
        messages=ask("What is the weather in Tokyo in fahrenheit?"),
        tools=[ADD, WEATHER],
    )
    (call,) = r.message.tool_calls
    assert call.function.name == "get_weather"
    assert call.function.arguments == {"city": "Tokyo", "unit": "fahrenheit"}
    jsonschema.validate(call.function.arguments, WEATHER["function"]["parameters"])
    assert r.message.content == "" and r.done_reason == "stop"
    text = json.dumps({"name": "get_weather", "arguments": call.function.arguments})
    assert r.eval_count == math.ceil(len(text) / 4)  # the call's text, ~4 characters a token


def test_tool_call_defaults_to_the_first_tool_with_numbers_from_the_message(client: ollama.Client):
    r = client.chat(
        model="qwen3", think=False, messages=ask("What is 17 plus 25?"), tools=[ADD, WEATHER]
    )
    (call,) = r.message.tool_calls
    assert call.function.name == "add" and call.function.arguments == {"a": 17, "b": 25}


def test_streamed_tool_call_arrives_whole_in_one_chunk_before_done(client: ollama.Client):
    chunks = list(
        client.chat(
            model="llama3.2", stream=True, messages=ask("Weather in Oslo?"), tools=[WEATHER]
        )
    )
    assert [c.done for c in chunks] == [False, True]
    (call,) = chunks[0].message.tool_calls
    assert call.function.name == "get_weather" and call.function.arguments["city"] == "Oslo"
    assert chunks[0].message.content == "" and chunks[1].message.content == ""
    assert chunks[1].done_reason == "stop" and chunks[1].eval_count > 0


def test_after_a_tool_result_the_model_answers_in_text(client: ollama.Client):
    first = client.chat(model="llama3.2", messages=ask("Weather in Lima?"), tools=[WEATHER])
    history = [
        *ask("Weather in Lima?"),
        first.message,
        {"role": "tool", "content": '{"temp": 21}', "tool_name": "get_weather"},
    ]
    r = client.chat(model="llama3.2", messages=history, tools=[WEATHER], options={"num_predict": 6})
    assert not r.message.tool_calls and r.message.content
    assert r.eval_count == 6 and r.done_reason == "length"


def test_a_tool_call_cut_by_num_predict_comes_back_as_partial_text(client: ollama.Client):
    r = client.chat(
        model="llama3.2",
        messages=ask("Weather in Rome?"),
        tools=[WEATHER],
        options={"num_predict": 3},
    )
    assert not r.message.tool_calls
    assert r.message.content == '{"name": "ge'  # 3 tokens of the call's text
    assert r.eval_count == 3 and r.done_reason == "length"


def test_tools_on_a_model_without_the_capability_is_ollamas_400(client: ollama.Client):
    with pytest.raises(ollama.ResponseError) as err:
        client.chat(model="llama3", messages=ask("x"), tools=[WEATHER])
    assert err.value.status_code == 400
    assert err.value.error == "registry.ollama.ai/library/llama3:latest does not support tools"


def test_a_thinking_model_thinks_unless_think_is_false(client: ollama.Client):
    default = client.chat(model="qwen3", messages=ask("Why?"), options={"num_predict": 10})
    assert default.message.thinking and default.message.content
    off = client.chat(model="qwen3", messages=ask("Why?"), think=False, options={"num_predict": 10})
    assert off.message.thinking is None and off.eval_count == 10


@pytest.mark.parametrize(("think", "thinking_tokens"), [("low", 5), (True, 10), ("high", 15)])
def test_thinking_and_answer_share_num_predict_exactly(
    client: ollama.Client, think, thinking_tokens
):
    chunks = list(
        client.chat(
            model="qwen3",
            stream=True,
            think=think,
            messages=ask("Why?"),
            options={"num_predict": 20},
        )
    )
    thinking = [c for c in chunks if c.message.thinking]
    content = [c for c in chunks if c.message.content]
    assert len(thinking) == thinking_tokens and len(content) == 20 - thinking_tokens
    assert chunks.index(thinking[-1]) < chunks.index(content[0])  # thinking streams first
    assert all(c.message.content == "" for c in thinking)
    assert chunks[-1].eval_count == 20 and chunks[-1].done_reason == "length"
    whole = client.chat(
        model="qwen3", think=think, messages=ask("Why?"), options={"num_predict": 20}
    )
    assert whole.message.thinking == "".join(c.message.thinking for c in thinking)
    assert whole.message.content == "".join(c.message.content for c in content)


def test_generate_puts_thinking_in_its_own_field(client: ollama.Client):
    r = client.generate(model="qwen3", prompt="Why?", think="medium", options={"num_predict": 8})
    assert r.thinking and r.response and r.eval_count == 8


@pytest.mark.parametrize("think", [True, "high"])
def test_think_on_a_model_without_thinking_is_ollamas_400(client: ollama.Client, think):
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="llama3.2", prompt="x", think=think)
    assert (err.value.status_code, err.value.error) == (400, '"llama3.2" does not support thinking')
    assert client.generate(
        model="llama3.2", prompt="x", think=False, options={"num_predict": 1}
    ).done


@pytest.mark.parametrize(("model", "per_image"), [("gemma3", 256), ("llava", 576)])
def test_images_count_in_the_prompt_tokens_of_vision_models(
    client: ollama.Client, model, per_image
):
    opts = {"num_predict": 1}
    plain = client.generate(model=model, prompt="Describe this.", options=opts)
    seen = client.generate(
        model=model, prompt="Describe this.", images=[PIXEL, PIXEL], options=opts
    )
    assert seen.prompt_eval_count == plain.prompt_eval_count + 2 * per_image
    chat = client.chat(
        model=model,
        messages=[{"role": "user", "content": "Describe this.", "images": [PIXEL]}],
        options=opts,
    )
    assert chat.prompt_eval_count > per_image


def test_images_are_refused_by_a_text_model_and_must_be_base64(client: ollama.Client, url: str):
    with pytest.raises(ollama.ResponseError) as err:
        client.generate(model="llama3.2", prompt="x", images=[PIXEL])
    assert err.value.status_code == 400
    assert err.value.error == "registry.ollama.ai/library/llama3.2:latest does not support vision"
    r = httpx.post(
        url + "/api/generate", json={"model": "gemma3", "prompt": "x", "images": ["ab$c"]}
    )
    assert r.status_code == 400 and r.json() == {"error": "illegal base64 data at input byte 2"}


def test_a_vision_model_runs_with_at_least_2048_context(client: ollama.Client):
    client.generate(model="llava", prompt="x", options={"num_ctx": 512, "num_predict": 1})
    (llava,) = [m for m in client.ps().models if m.model == "llava:latest"]
    assert llava.context_length == 2048  # Ollama's scheduler raises it for multimodal models
