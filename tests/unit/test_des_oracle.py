"""The clairvoyant yardstick of bench/policy.py (bench/_des_oracle.py): it sees true output
lengths, so it sends a request where the work ahead of it ends first."""

from __future__ import annotations

import sys
from pathlib import Path

from sollol.router import analyse_request
from sollol.sim.profile import parse_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job, Simulation
from _des_oracle import Oracle

MODEL = {"size_mb": 1000, "load_s": 2, "prompt_tps": 100, "gen_tps": 10}


def _fleet() -> dict:
    return {
        "nodes": [
            {"name": n, "port": p, "num_parallel": 1, "models": {"m": MODEL}, "loaded": ["m"]}
            for n, p in (("a", 1), ("b", 2))
        ]
    }


def _job(rid: int, at: float, out: int) -> Job:
    return Job(rid, at, analyse_request("generate", {"model": "m", "prompt": "x" * 40}, 5), out)


def test_the_oracle_queues_behind_the_request_that_ends_first() -> None:
    # a: 1000 tokens (100 s), b: 50 tokens (5 s); the third request arrives at 1 s
    long_one, short_one, third = _job(0, 0.0, 1000), _job(1, 0.0, 50), _job(2, 1.0, 10)
    jobs = [long_one, short_one, third]
    oracle = Oracle(jobs, "oracle")
    sim = Simulation(parse_profile(_fleet()), oracle, cache_s=0, heartbeat_s=0)  # type: ignore[arg-type]
    oracle.sim = sim
    sim.run(jobs)
    assert long_one.host != short_one.host
    assert third.host == short_one.host
    assert third.start == short_one.done  # it waited only for the short answer
