"""The learning loop on a live fleet: workers report Ollama's own timings, the router's predicted
durations converge on what requests really take, per host."""

from __future__ import annotations

import statistics

import httpx
import pytest

from tests.integration.conftest import make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TIME_SCALE = 0.05
FAST = {"size_mb": 2000, "load_s": 1.0, "prompt_tps": 4000, "gen_tps": 120}
SLOW = {"size_mb": 2000, "load_s": 1.0, "prompt_tps": 500, "gen_tps": 30}


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        make_profile(
            [
                {
                    "name": "quick",
                    "num_parallel": 1,
                    "models": {"llama3.2": FAST},
                    "loaded": ["llama3.2"],
                },
                {
                    "name": "slow",
                    "num_parallel": 1,
                    "models": {"llama3.2": SLOW},
                    "loaded": ["llama3.2"],
                },
            ],
            time_scale=TIME_SCALE,
        )
    )


def _run(live, host_hint: str) -> dict:
    r = httpx.post(
        live.url + "/api/generate",
        timeout=60,
        json={
            "model": "llama3.2",
            "prompt": f"learning {host_hint}",
            "stream": False,
            "options": {"num_predict": 200},
        },
    )
    r.raise_for_status()
    return r.json()["_sollol_routing"]


def test_learned_generation_rates_match_what_the_nodes_deliver(live):
    for _ in range(12):
        _run(live, "warm")
    stats = {h["name"]: h["stats"].get("llama3.2:latest") for h in live.get("/api/fleet")["hosts"]}
    assert stats["quick"] and stats["quick"]["samples"] >= 1
    # wall-clock rate = profile rate / time_scale (the simulator runs 20x faster than real)
    assert stats["quick"]["gen_tps"] == pytest.approx(FAST["gen_tps"] / TIME_SCALE, rel=0.35)
    if stats["slow"] and stats["slow"]["gen_tps"]:
        assert stats["slow"]["gen_tps"] == pytest.approx(SLOW["gen_tps"] / TIME_SCALE, rel=0.35)


def test_predicted_durations_converge_on_actual_ones(live):
    routed = [_run(live, f"converge {i}") for i in range(30)]
    errors = [
        abs(r["predicted_ms"] - r["actual_duration_ms"]) / r["actual_duration_ms"] for r in routed
    ]
    late = statistics.median(errors[-10:])
    assert late < 0.35, "\n".join(
        str((r["host"], r["predicted_ms"], r["actual_duration_ms"], r["queue_wait_ms"]))
        for r in routed
    )
    # and routing used what it learned: the fast host gets the work when both are idle
    assert sum(r["host"] == "quick" for r in routed[-10:]) >= 8
