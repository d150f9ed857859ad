"""Prompt-prefix routing: block hashes of the prompt, the gateway's per-host record of what it
dispatched, and the performance picker sending a request where its prefix is probably cached
when that saves more than the gap to the best host, under the load cap and the num_ctx rule."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from sollol.router import LoadedModel, Router, Tuning, analyse_request
from sollol.router.prefix import (
    BLOCK_CHARS,
    BLOCK_TOKENS,
    RECORD_BLOCKS,
    PrefixRecord,
    prompt_blocks,
    shared_blocks,
)
from tests.router.fleet import LLAMA, host, snap, stats

SYSTEM = "You are a meticulous assistant who answers in detail. " * 80  # ~4,300 characters


def chat_body(*turns: str, num_ctx: int | None = None) -> dict[str, object]:
    messages = [{"role": "system", "content": SYSTEM}]
    for i, t in enumerate(turns):
        messages.append({"role": "user" if i % 2 == 0 else "assistant", "content": t})
    body: dict[str, object] = {"model": "llama3.2", "messages": messages}
    if num_ctx is not None:
        body["options"] = {"num_ctx": num_ctx}
    return body


def test_blocks_are_equal_up_to_the_first_differing_block_and_a_partial_block_is_left_out():
    a = "x" * (3 * BLOCK_CHARS) + "tail"
    b = "x" * (2 * BLOCK_CHARS) + "y" * BLOCK_CHARS
    assert len(prompt_blocks(a)) == 3  # the 4-character tail is no full block
    assert shared_blocks(prompt_blocks(a), prompt_blocks(b)) == 2
    assert prompt_blocks("short") == ()


def test_a_follow_up_extends_the_blocks_of_its_previous_turn():
    first = analyse_request("chat", chat_body("What is a monad?"))
    second = analyse_request("chat", chat_body("What is a monad?", "A monad is...", "Why?"))
    n = len(first.prefix_blocks)
    assert n > 10 and second.prefix_blocks[:n] == first.prefix_blocks


def test_the_record_replaces_the_prompt_it_extends_and_drops_the_least_recent_past_its_budget():
    rec = PrefixRecord()
    rec.record(LLAMA, (1, 2), slots=2)
    rec.record(LLAMA, (1, 2, 3), slots=2)  # extends (1, 2): replaces it
    rec.record(LLAMA, (7,), slots=2)
    assert rec.cached_blocks(LLAMA, (1, 2, 3, 4)) == 3
    assert rec.cached_blocks(LLAMA, (7, 8)) == 1
    big = tuple(range(100, 100 + RECORD_BLOCKS))  # fills the budget by itself
    rec.record(LLAMA, big, slots=2)
    assert rec.cached_blocks(LLAMA, (1, 2, 3, 4)) == 0  # the least recent went first
    assert rec.cached_blocks(LLAMA, (7, 8)) == 1  # at least ``slots`` entries stay
    assert rec.cached_blocks(LLAMA, big) == RECORD_BLOCKS
    rec.forget(LLAMA)
    assert rec.cached_blocks(LLAMA, big) == 0


def fleet_with_history_on(name: str, profile_blocks: tuple[int, ...], **slow: object):
    """Two GPUs, ``fast`` ~1.3x faster; the conversation's earlier prompt was sent to ``name``."""
    fast = host("fast", learned={LLAMA: stats(prompt_tps=1300.0, gen_tps=104.0)})
    mid = host("mid", learned={LLAMA: stats(prompt_tps=1000.0, gen_tps=80.0)}, **slow)
    rec = PrefixRecord()
    rec.record(LLAMA, profile_blocks, slots=4)
    s = snap(fast, mid)
    return dataclasses.replace(s, prefixes=MappingProxyType({name: rec, "fast": PrefixRecord()}))


def test_the_host_holding_the_history_wins_and_the_reasoning_says_the_cache_decided():
    earlier = analyse_request("chat", chat_body("What is a monad?", "A monad is...", "Why?"))
    now = analyse_request(
        "chat", chat_body("What is a monad?", "A monad is...", "Why?", "Because.", "More?")
    )
    s = fleet_with_history_on("mid", earlier.prefix_blocks)
    d = Router().route(now, s)
    assert d.host == "mid"
    assert d.reasoning.startswith("prompt cache: ~")
    assert d.factors["prefix"] > 0.9
    # with no record of prefixes the faster host wins on its score
    assert Router().route(now, snap(*s.hosts)).host == "fast"


def test_the_conversations_previous_host_is_credited_its_answer_too():
    from sollol.router.prefix import cached_tokens

    earlier = analyse_request("chat", chat_body("What is a monad?", "A monad is...", "Why?"))
    answer = "Because it composes effects. " * 40  # ~290 tokens the slot holds after the prompt
    now = analyse_request(
        "chat", chat_body("What is a monad?", "A monad is...", "Why?", answer, "?")
    )
    s = fleet_with_history_on("mid", earlier.prefix_blocks)
    mid = s.hosts[1]
    without = cached_tokens(now, mid, s)
    assert without == len(earlier.prefix_blocks) * BLOCK_TOKENS  # the recorded prompt only
    s = dataclasses.replace(
        s,
        affinity=MappingProxyType({now.session_key or "": "mid"}),
        output_tokens=MappingProxyType({(LLAMA, now.task_type): 250.0}),
    )
    assert cached_tokens(now, mid, s) == without + 250  # plus the typical answer length
    # another host holding the same prompt, but not the conversation's last turn: no credit
    s = dataclasses.replace(s, affinity=MappingProxyType({now.session_key or "": "fast"}))
    assert cached_tokens(now, mid, s) == without


def test_a_short_shared_prefix_does_not_outweigh_a_faster_host():
    earlier = analyse_request(
        "chat",
        {"model": "llama3.2", "messages": [{"role": "user", "content": "z" * (2 * BLOCK_CHARS)}]},
    )
    now = analyse_request(
        "chat",
        {
            "model": "llama3.2",
            "messages": [
                {
                    "role": "user",
                    "content": "z" * (2 * BLOCK_CHARS) + " and a long new question " * 400,
                }
            ],
        },
    )
    s = fleet_with_history_on("mid", earlier.prefix_blocks)
    assert now.prompt_tokens > 20 * BLOCK_TOKENS
    assert Router().route(now, s).host == "fast"  # ~2 cached blocks save less than fast gains


def test_the_load_cap_stops_a_hot_prefix_piling_onto_one_host():
    earlier = analyse_request("chat", chat_body("Q1", "A1", "Q2"))
    now = analyse_request("chat", chat_body("Q1", "A1", "Q2", "A2", "Q3"))
    s = fleet_with_history_on("mid", earlier.prefix_blocks, running=4, queued={5: 1})
    d = Router().route(now, s)
    assert d.host == "fast" and "prompt cache" not in d.reasoning


def test_an_instance_with_another_num_ctx_gets_no_cache_credit():
    earlier = analyse_request("chat", chat_body("Q1", "A1", "Q2", num_ctx=8192))
    now = analyse_request("chat", chat_body("Q1", "A1", "Q2", "A2", "Q3", num_ctx=8192))
    assert now.num_ctx == 8192
    s = fleet_with_history_on("mid", earlier.prefix_blocks)
    mid = dataclasses.replace(s.hosts[1], loaded=(LoadedModel(LLAMA, 2000.0, context_length=4096),))
    s = dataclasses.replace(s, hosts=(s.hosts[0], mid))
    d = Router().route(now, s)
    assert d.host == "fast"
    assert "prompt cache" not in d.reasoning


def test_prefix_routing_off_falls_back_to_plain_session_affinity():
    now = analyse_request("chat", chat_body("Q1", "A1", "Q2"))
    s = fleet_with_history_on("mid", now.prefix_blocks)
    s = dataclasses.replace(s, affinity=MappingProxyType({now.session_key or "": "mid"}))
    d = Router(tuning=Tuning(prefix_routing=False)).route(now, s)
    assert d.host == "mid" and d.reasoning.startswith("session affinity")


def test_the_discrete_event_model_evaluates_only_what_the_slot_holds():
    import sys
    from pathlib import Path

    import pytest

    from sollol.router import RequestProfile
    from sollol.sim.profile import parse_profile

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    from _des import Job, Simulation

    profile = parse_profile(
        {
            "nodes": [
                {
                    "name": "a",
                    "num_parallel": 2,
                    "models": {
                        "m": {"size_mb": 1000, "load_s": 2, "prompt_tps": 100, "gen_tps": 10}
                    },
                    "loaded": ["m"],
                }
            ]
        }
    )
    first_text = "history " * 500  # 4,000 characters: 15 blocks, 1,000 tokens
    after = prompt_blocks(first_text + "\nassistant: " + "answer " * 40)
    second_text = first_text + "\nassistant: " + "answer " * 40 + "\nuser: next?"
    jobs = [
        Job(
            0,
            0.0,
            RequestProfile("m:latest", prompt_tokens=1000, prefix_blocks=prompt_blocks(first_text)),
            10,
            after,
        ),
        Job(
            1,
            100.0,
            RequestProfile(
                "m:latest", prompt_tokens=1075, prefix_blocks=prompt_blocks(second_text)
            ),
            10,
        ),
    ]
    Simulation(profile, Router("least_connections"), cache_s=0, heartbeat_s=0).run(jobs)
    assert jobs[0].first - jobs[0].prompt_start == 1000 / 100  # the whole prompt, 10 s
    assert jobs[1].cached == len(after) * BLOCK_TOKENS  # everything up to the answer's last block
    assert jobs[1].first - jobs[1].prompt_start == pytest.approx((1075 - jobs[1].cached) / 100)
