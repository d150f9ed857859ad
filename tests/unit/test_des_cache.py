"""The discrete-event model's prompt cache (bench/_des_cache.py): whole blocks for any shared
prefix, every token for a conversation's next turn, as the live simulator counts characters."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sollol.router import RequestProfile, Router
from sollol.router.prefix import BLOCK_TOKENS, prompt_blocks
from sollol.sim.profile import parse_profile
from sollol.sim.prompt_cache import PromptCache

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job, Simulation
from _des_cache import Content, SlotCaches, text_key

FIRST = "history " * 500  # 4,000 characters
DONE = FIRST + "\nassistant: " + "answer " * 41  # 4,299 characters: 16 whole blocks and a tail
NEXT = DONE + "\nuser: next?"


def test_a_next_turn_reuses_its_previous_prompt_and_answer_to_the_token() -> None:
    caches = SlotCaches(2)
    slot, _ = caches.claim(prompt_blocks(FIRST))
    caches.store(slot, Content(prompt_blocks(DONE), text_key(DONE), len(DONE) // 4))
    _, exact = caches.claim(prompt_blocks(NEXT), text_key(DONE))
    # the live simulator's cache counts the same shared characters
    live = PromptCache(2)
    live.store(live.claim(FIRST)[0], DONE)
    assert exact == live.claim(NEXT)[1] == len(DONE) // 4


def test_without_the_exact_text_a_shared_prefix_counts_whole_blocks() -> None:
    caches = SlotCaches(2)
    slot, _ = caches.claim(prompt_blocks(FIRST))
    caches.store(slot, Content(prompt_blocks(DONE), text_key(DONE), len(DONE) // 4))
    _, shared = caches.claim(prompt_blocks(NEXT))
    assert shared == len(prompt_blocks(DONE)) * BLOCK_TOKENS < len(DONE) // 4


def test_the_simulation_evaluates_only_the_new_question() -> None:
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
    tokens = -(-len(NEXT) // 4)
    jobs = [
        Job(
            0,
            0.0,
            RequestProfile("m:latest", prompt_tokens=1000, prefix_blocks=prompt_blocks(FIRST)),
            10,
            Content(prompt_blocks(DONE), text_key(DONE), len(DONE) // 4),
        ),
        Job(
            1,
            100.0,
            RequestProfile("m:latest", prompt_tokens=tokens, prefix_blocks=prompt_blocks(NEXT)),
            10,
            continues=text_key(DONE),
        ),
    ]
    Simulation(profile, Router("least_connections"), cache_s=0, heartbeat_s=0).run(jobs)
    assert jobs[1].cached == len(DONE) // 4
    assert jobs[1].first - jobs[1].prompt_start == pytest.approx((tokens - len(DONE) // 4) / 100)
