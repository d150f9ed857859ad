"""Prompt-cache-aware routing on the live stack: a conversation with a long history is sent back
to the host that evaluated its previous turn (the gateway's prefix record), says so in its
routing metadata, and that node evaluates only the new part of the prompt."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import CHAT, make_profile

pytestmark = pytest.mark.integration

SYSTEM = "You are a patient tutor who explains each step with an example. " * 40  # ~640 tokens


@pytest.fixture(scope="module")
def live(live_factory):
    node = {"num_parallel": 2, "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}
    return live_factory(make_profile([{"name": "alpha", **node}, {"name": "beta", **node}]))


def chat(live, history: list[dict[str, str]]) -> dict:
    r = httpx.post(
        live.url + "/api/chat",
        timeout=30,
        json={
            "model": "llama3.2",
            "messages": history,
            "stream": False,
            "options": {"num_predict": 8},
        },
    )
    assert r.status_code == 200, r.text
    return r.json()


def test_a_long_conversation_follows_its_prompt_cache_and_evaluates_only_the_new_turn(live):
    for n in range(3):  # three conversations, each three turns
        history = [
            {"role": "system", "content": f"{n}: {SYSTEM}"},
            {"role": "user", "content": f"Explain recursion, part {n}."},
        ]
        turns = []
        for turn in range(3):
            body = chat(live, history)
            turns.append(body)
            history = [*history, body["message"], {"role": "user", "content": f"And {turn}?"}]
        hosts = [t["_sollol_routing"]["host"] for t in turns]
        reasons = [t["_sollol_routing"]["reasoning"] for t in turns]
        assert len(set(hosts)) == 1, (hosts, reasons)
        assert all(r.startswith("prompt cache: ~") for r in reasons[1:]), reasons
        assert turns[0]["prompt_eval_count"] > 600  # the first turn evaluates everything
        assert all(t["prompt_eval_count"] < 20 for t in turns[1:]), [  # then only the new part
            t["prompt_eval_count"] for t in turns
        ]
