"""A two-host, one-model fleet for the tests of bench/policy.py's simulation."""

from __future__ import annotations

import sys
from pathlib import Path

from sollol.router import analyse_request
from sollol.sim.profile import FleetProfile, parse_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from _des import Job

MODEL = {"size_mb": 1000, "load_s": 2, "prompt_tps": 100, "gen_tps": 10}


def two_hosts() -> FleetProfile:
    """Hosts a and b, one slot each, model m resident: a 40-character prompt evaluates in
    0.1 s, and an answer generates at 10 tokens/s."""
    return parse_profile(
        {
            "nodes": [
                {"name": n, "port": p, "num_parallel": 1, "models": {"m": MODEL}, "loaded": ["m"]}
                for n, p in (("a", 1), ("b", 2))
            ]
        }
    )


def job(rid: int, at: float, out: int, priority: int = 5) -> Job:
    """Request ``rid`` for m arriving at ``at`` s, whose answer is ``out`` tokens long."""
    return Job(
        rid, at, analyse_request("generate", {"model": "m", "prompt": "x" * 40}, priority), out
    )
