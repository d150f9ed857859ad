"""The simulator continues a trailing assistant message, as Ollama's templates leave it open:
an answer cut after k tokens and continued from its text joins into exactly the answer one
uninterrupted node gives."""

from __future__ import annotations

from collections.abc import Iterator

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
