"""The simulator continues a trailing assistant message, as Ollama's templates leave it open:
an answer cut after k tokens and continued from its text joins into exactly the answer one
uninterrupted node gives."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ollama
import pytest

from tests.sim.conftest import node

MESSAGES = [{"role": "user", "content": "Tell me about rivers."}]


@pytest.fixture
def client(url: str) -> Iterator[ollama.Client]:
    with ollama.Client(host=url) as c:
        yield c


def _stream(client: ollama.Client, messages: list[dict[str, str]], **options: int) -> list[str]:
    parts = client.chat(model="llama3.2", messages=messages, stream=True, options=options)
    return [p.message.content for p in parts if p.message.content]


@pytest.mark.parametrize("cut", [1, 7, 29])
def test_a_continued_answer_joins_into_the_uninterrupted_one(client, cut):
    whole = _stream(client, MESSAGES, num_predict=30)
    start = "".join(whole[:cut])
    rest = _stream(
        client, [*MESSAGES, {"role": "assistant", "content": start}], num_predict=30 - cut
    )
    assert rest == whole[cut:]


def test_without_num_predict_the_continuation_ends_where_the_answer_would(client):
    whole = _stream(client, MESSAGES)
    start = "".join(whole[:3])
    rest = _stream(client, [*MESSAGES, {"role": "assistant", "content": start}])
    assert start + "".join(rest) == "".join(whole) and len(rest) == len(whole) - 3


def test_another_nodes_continuation_has_as_many_tokens_and_repeats_nothing(start_fleet):
    fleet = start_fleet(node("a", seed=1), node("b", seed=2))
    with ollama.Client(host=fleet.urls["a"]) as a, ollama.Client(host=fleet.urls["b"]) as b:
        whole = _stream(a, MESSAGES, num_predict=20)
        start = "".join(whole[:5])
        rest = _stream(b, [*MESSAGES, {"role": "assistant", "content": start}], num_predict=15)
    assert len(rest) == 15 and rest[0].startswith(" ")  # a new word, not the start again


@pytest.mark.parametrize("endpoint", ["chat", "generate"])
def test_the_chaos_benchmark_splices_a_continued_answer_as_the_nodes_say_it(start_fleet, endpoint):
    """bench/chaos.py checks continued answers against its own splice of the nodes' texts: that
    splice is what a second node says after the first one's start (generate as its chat)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    import chaos

    fleet = start_fleet(node("a", seed=1), node("b", seed=2))
    body: dict[str, Any] = {"model": "llama3.2", "options": {"num_predict": 30}}
    if endpoint == "chat":
        body["messages"] = [{"role": "user", "content": "hello there"}]
    else:
        body["prompt"] = "hello there"
    req = chaos.Request(0, 0.0, endpoint, body, 5, True, 30)
    start = chaos.expected_text(fleet.profile, "a", req)
    with ollama.Client(host=fleet.urls["a"]) as a, ollama.Client(host=fleet.urls["b"]) as b:
        if endpoint == "chat":
            head = _stream(a, body["messages"], num_predict=30)[:7]
        else:
            parts = a.generate(
                model="llama3.2", prompt="hello there", stream=True, options={"num_predict": 30}
            )
            head = [p.response for p in parts][:7]
        messages = body.get("messages") or [{"role": "user", "content": "hello there"}]
        prefill = [{"role": "assistant", "content": "".join(head)}]
        rest = _stream(b, messages + prefill, num_predict=23)
    spliced = chaos.continued_text(fleet.profile, req, [{"host": "a", "tokens": 7}], "b")
    assert start is not None and spliced == "".join(head) + "".join(rest)


def test_an_answer_begun_in_text_is_continued_in_text_even_with_tools(client):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    messages = [*MESSAGES, {"role": "assistant", "content": "Rivers are"}]
    r = client.chat(model="llama3.2", messages=messages, tools=tools, options={"num_predict": 5})
    assert not r.message.tool_calls and r.message.content and r.eval_count == 5
