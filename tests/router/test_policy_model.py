"""The discrete-event model behind bench/policy.py reproduces the simulator's physics and
Ollama's residency rules on small cases whose answer can be worked out by hand."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

from sollol.router import Router, analyse_request
from sollol.sim import physics
from sollol.sim.profile import FleetProfile, parse_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job, Simulation


def node(keep_alive_s: float = 10.0) -> FleetProfile:
    return parse_profile(
        {
            "nodes": [
                {
                    "name": "a",
                    "num_parallel": 2,
                    "max_loaded_models": 1,
                    "keep_alive_s": keep_alive_s,
                    "models": {
                        "m1": {"size_mb": 1000, "load_s": 2, "prompt_tps": 100, "gen_tps": 10},
                        "m2": {"size_mb": 1000, "load_s": 3, "prompt_tps": 100, "gen_tps": 10},
                    },
                    "loaded": ["m1"],
                }
            ]
        }
    )


def job(rid: int, at: float, model: str = "m1", priority: int = 5) -> Job:
    # 400 characters → 100 prompt tokens (1 s alone), 20 output tokens (2 s alone)
    return Job(
        rid, at, analyse_request("generate", {"model": model, "prompt": "x" * 400}, priority), 20
    )


def run(*jobs: Job) -> Simulation:
    sim = Simulation(node(), Router("round_robin", random.Random(0)), cache_s=0, heartbeat_s=0)
    sim.run(jobs)
    return sim


def test_a_lone_request_takes_prompt_plus_generation() -> None:
    j = job(0, 0.0)
    run(j)
    assert (j.first, j.done) == (pytest.approx(1.0), pytest.approx(3.0))


def test_concurrent_requests_share_the_model_as_physics_says() -> None:
    a, b = job(0, 0.0), job(1, 0.0)
    run(a, b)
    shared = physics.per_slot_tps(10, 2)
    b_prompt = physics.prompt_eval_seconds(100, 100, 2)
    # a generates from 1 s at the shared rate until done; b finishes its last tokens alone
    assert a.done == pytest.approx(1.0 + 20 / shared)
    left = 20 - (a.done - b_prompt) * shared
    assert b.done == pytest.approx(a.done + left / 10)


def test_a_cold_model_evicts_an_idle_one_then_loads() -> None:
    j = job(0, 0.0, "m2")
    sim = run(j)
    assert j.cold and j.done == pytest.approx(3.0 + 3.0)
    assert sim.hosts[0].counters.evictions == 1


def test_a_load_waits_for_the_busy_victim_to_drain() -> None:
    busy, cold = job(0, 0.0), job(1, 0.5, "m2")
    run(busy, cold)
    assert cold.done == pytest.approx(busy.done + 3.0 + 3.0)


def test_keep_alive_unloads_an_idle_model() -> None:
    first, later = job(0, 0.0), job(1, 20.0)  # idle from 3 s, unloaded at 13 s
    run(first, later)
    assert not first.cold and later.cold and later.done == pytest.approx(20.0 + 2.0 + 3.0)


def test_workers_take_the_highest_priority_first() -> None:
    jobs = [job(0, 0.0), job(1, 0.0), job(2, 0.1, priority=1), job(3, 0.2, priority=10)]
    run(*jobs)
    assert jobs[3].start < jobs[2].start
