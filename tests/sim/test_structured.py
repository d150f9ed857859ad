"""``format`` (JSON and JSON schemas), ``logprobs``, null options, ``shift``/``truncate`` and
``keep_alive`` on the native API, as Ollama 0.32 treats them."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from typing import Literal

import httpx
import jsonschema
import ollama
import pydantic
import pytest

from sollol.sim import SimFleet
from tests.helpers import wait_for
from tests.sim.feature_fleet import feature_fleet


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    yield from feature_fleet()


@pytest.fixture
def client(url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=url) as c:
        yield c


class Address(pydantic.BaseModel):
    street: str
    zip_code: int = pydantic.Field(ge=1000, le=9999)


class Person(pydantic.BaseModel):
    name: str
    age: int = pydantic.Field(ge=0, le=120)
    height_m: float
    member: bool
    role: Literal["admin", "user", "guest"]
    tags: list[str] = pydantic.Field(min_length=1)
    address: Address  # a $ref into $defs
    nickname: str | None = None  # anyOf [string, null]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_format_json_answers_a_json_object(client: ollama.Client):
    r = client.chat(model="llama3.2", messages=ask("List three colors as JSON"), format="json")
    assert isinstance(json.loads(r.message.content), dict) and r.done_reason == "stop"


def test_format_schema_answers_json_that_conforms(client: ollama.Client):
    schema = Person.model_json_schema()
    r = client.chat(model="llama3.2", messages=ask("Invent a person"), format=schema)
    person = Person.model_validate_json(r.message.content)
    jsonschema.validate(json.loads(r.message.content), schema)
    assert person.role in ("admin", "user", "guest") and 1000 <= person.address.zip_code <= 9999
    assert r.eval_count == math.ceil(len(r.message.content) / 4)  # stops when the value is done
    streamed = client.chat(
        model="llama3.2", messages=ask("Invent a person"), format=schema, stream=True
    )
    assert "".join(c.message.content for c in streamed) == r.message.content


def test_generate_takes_a_schema_too(client: ollama.Client):
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 3}
    r = client.generate(model="llama3.2", prompt="three numbers", format=schema)
    value = json.loads(r.response)
    assert len(value) == 3 and all(isinstance(v, int) for v in value)


def test_num_predict_too_small_cuts_the_json_as_ollama_does(client: ollama.Client):
    schema = Person.model_json_schema()
    r = client.chat(
        model="llama3.2", messages=ask("Invent a person"), format=schema, options={"num_predict": 5}
    )
    assert r.eval_count == 5 and r.done_reason == "length"
    assert len(r.message.content) == 20  # 5 tokens of ~4 characters
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.message.content)
    roomy = client.chat(
        model="llama3.2",
        messages=ask("Invent a person"),
        format=schema,
        options={"num_predict": 4000},
    )
    assert roomy.done_reason == "stop" and roomy.eval_count < 4000
    assert roomy.message.content.startswith(r.message.content)  # the same value, not cut


def test_a_thinking_model_thinks_then_answers_in_the_format(client: ollama.Client):
    r = client.chat(
        model="qwen3", messages=ask("Invent a person"), format=Person.model_json_schema()
    )
    assert r.message.thinking
    Person.model_validate_json(r.message.content)


def test_invalid_format_is_ollamas_500(url: str):
    r = httpx.post(
        url + "/api/generate", json={"model": "llama3.2", "prompt": "x", "format": "yaml"}
    )
    assert r.status_code == 500 and r.json()["error"].startswith('invalid format: "yaml"')


def test_null_option_values_are_ignored_as_ollamas_parser_skips_nil(url: str):
    # LangChain sends every option it knows, unset ones as null.
    opts = {"num_ctx": None, "temperature": None, "stop": None, "num_predict": 4}
    r = httpx.post(
        url + "/api/chat",
        json={"model": "llama3.2", "stream": False, "messages": ask("hi"), "options": opts},
    )
    assert r.status_code == 200 and r.json()["eval_count"] == 4
    r = httpx.post(
        url + "/api/embed", json={"model": "nomic-embed-text", "input": "hi", "options": opts}
    )
    assert r.status_code == 200 and len(r.json()["embeddings"]) == 1


def test_a_wrong_option_type_is_still_a_500(url: str):
    body = {"model": "llama3.2", "prompt": "x", "stream": False, "options": {"num_ctx": "big"}}
    r = httpx.post(url + "/api/generate", json=body)
    assert r.status_code == 500 and r.json() == {
        "error": 'option "num_ctx" must be of type integer'
    }


def test_logprobs_cover_every_token_with_top_alternatives(client: ollama.Client):
    body = {"model": "llama3.2", "prompt": "Count", "logprobs": True, "top_logprobs": 3}
    r = client.generate(**body, options={"num_predict": 6})
    assert len(r.logprobs) == 6 and "".join(lp.token for lp in r.logprobs) == r.response
    for lp in r.logprobs:
        assert lp.logprob <= 0 and len(lp.top_logprobs) == 3
        assert lp.top_logprobs[0].token == lp.token  # the chosen token is the likeliest
        assert [t.logprob for t in lp.top_logprobs] == sorted(
            (t.logprob for t in lp.top_logprobs), reverse=True
        )
    chunks = list(client.generate(**body, stream=True, options={"num_predict": 6}))
    assert [c.logprobs[0].token for c in chunks[:-1]] == [lp.token for lp in r.logprobs]
    assert [c.logprobs[0].logprob for c in chunks[:-1]] == [lp.logprob for lp in r.logprobs]


def test_logprobs_carry_utf8_bytes(url: str):
    body = {
        "model": "llama3.2",
        "stream": False,
        "messages": ask("x"),
        "logprobs": True,
        "options": {"num_predict": 2},
    }
    entries = httpx.post(url + "/api/chat", json=body).json()["logprobs"]
    assert all(e["bytes"] == list(e["token"].encode()) for e in entries)
    assert all("top_logprobs" not in e for e in entries)  # none asked for


@pytest.mark.parametrize("top", [-1, 21])
def test_top_logprobs_out_of_range_is_400(url: str, top: int):
    body = {"model": "llama3.2", "prompt": "x", "logprobs": True, "top_logprobs": top}
    r = httpx.post(url + "/api/generate", json=body)
    assert r.status_code == 400 and r.json() == {"error": "top_logprobs must be between 0 and 20"}


def test_a_prompt_over_num_ctx_is_shifted_or_refused_without_shift(url: str):
    # (the Python client has no shift/truncate arguments: raw bodies)
    body = {"model": "llama3.2", "prompt": "word " * 100, "stream": False}  # 125 tokens
    body["options"] = {"num_ctx": 64, "num_predict": 1}
    r = httpx.post(url + "/api/generate", json=body)
    # llama-server keeps num_keep (4) + BOS and drops half of the rest: 64 - (64 - 5) // 2
    assert r.status_code == 200 and r.json()["prompt_eval_count"] == 35
    r = httpx.post(url + "/api/generate", json={**body, "shift": False})
    assert r.status_code == 400
    assert r.json()["error"].startswith("the prompt is longer than the context length")


def test_truncate_and_keep_alive_are_accepted(url: str, client: ollama.Client):
    body = {"model": "llama3", "messages": ask("x"), "stream": False, "truncate": False}
    body |= {"keep_alive": "10m", "options": {"num_predict": 2}}
    assert httpx.post(url + "/api/chat", json=body).json()["eval_count"] == 2
    assert "llama3:latest" in [m.model for m in client.ps().models]
    httpx.post(url + "/api/chat", json={**body, "keep_alive": 0})  # unload once answered
    wait_for(lambda: "llama3:latest" not in [m.model for m in client.ps().models], what="unload")
    r = httpx.post(url + "/api/chat", json={**body, "truncate": "no"})
    assert r.status_code == 400 and "ChatRequest.truncate of type bool" in r.json()["error"]
