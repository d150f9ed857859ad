"""Tuning.scaled: a fleet whose every delay is ``time_scale`` × the real one (a simulator run
faster than real) gets the decisions the real fleet gets, once the router's own constants are
converted; without it, a cold load looks 1/time_scale times dearer than queueing."""

from __future__ import annotations

from dataclasses import fields

import pytest

from sollol.router import FleetSnapshot, ModelStats, Router, Tuning
from sollol.router.tuning import SECONDS, TOKEN_RATES
from tests.router.fleet import LLAMA, host, request, snap, stats

BIG = "llama3.1:8b"
QUARTER = 0.25  # bench/fleet.py's identical fleet runs 4× faster than the profile


@pytest.mark.parametrize("name", SECONDS)
def test_scaled_tuning_multiplies_seconds_by_the_time_scale(name: str) -> None:
    assert getattr(Tuning().scaled(QUARTER), name) == pytest.approx(
        getattr(Tuning(), name) * QUARTER
    )


@pytest.mark.parametrize("name", TOKEN_RATES)
def test_scaled_tuning_divides_default_token_rates_by_the_time_scale(name: str) -> None:
    assert getattr(Tuning().scaled(QUARTER), name) == pytest.approx(
        getattr(Tuning(), name) / QUARTER
    )


def test_scaled_tuning_leaves_dimensionless_constants_alone() -> None:
    scaled, base = Tuning().scaled(QUARTER), Tuning()
    for f in fields(Tuning):
        if f.name not in SECONDS + TOKEN_RATES:
            assert getattr(scaled, f.name) == getattr(base, f.name), f.name


def test_time_scale_one_is_the_same_tuning() -> None:
    tuning = Tuning(cold_penalty_s=3.0)
    assert tuning.scaled(1.0) is tuning


@pytest.mark.parametrize("bad", [0.0, -0.5, float("nan")])
def test_scaled_tuning_rejects_a_time_scale_that_is_not_positive(bad: float) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        Tuning().scaled(bad)


def _fleet(time_scale: float, queued: int) -> FleetSnapshot:
    """gpu-0 runs four llama3.1:8b requests with ``queued`` more waiting; gpu-1..3 are idle and
    have it installed but not loaded. Rates are what the workers measure on a fleet running
    ``time_scale`` × real time (tokens per wall second); no load time has been learned yet."""

    def measured(prompt_tps: float, gen_tps: float) -> ModelStats:
        return stats(prompt_tps / time_scale, gen_tps / time_scale, load_s=None)

    busy = host(
        "gpu-0",
        installed=(LLAMA, BIG),
        loaded=(LLAMA, BIG),
        running=4,
        running_by_model={BIG: 4},
        queued={5: queued},
        learned={BIG: measured(2000.0, 70.0), LLAMA: measured(3000.0, 100.0)},
    )
    idle = [
        host(f"gpu-{i}", installed=(LLAMA, BIG), learned={LLAMA: measured(3000.0, 100.0)})
        for i in (1, 2, 3)
    ]
    return snap(busy, *idle, output_tokens={(BIG, "analysis"): 300.0})


ANALYSIS = request(BIG, task_type="analysis", prompt_tokens=300, output_tokens=300)


@pytest.mark.parametrize("queued", range(8))
def test_a_faster_fleet_gets_the_real_fleets_decision_with_scaled_tuning(queued: int) -> None:
    real = Router(tuning=Tuning()).route(ANALYSIS, _fleet(1.0, queued))
    fast = Router(tuning=Tuning().scaled(QUARTER)).route(ANALYSIS, _fleet(QUARTER, queued))
    assert (fast.host == "gpu-0") == (real.host == "gpu-0")
    # every part of the prediction is fleet time, so it shrinks with the clock
    assert fast.predicted_ms == pytest.approx(real.predicted_ms * QUARTER, rel=0.02)


def test_unscaled_tuning_queues_on_the_warm_host_of_a_faster_fleet() -> None:
    """The live bench's bug: six requests queued on gpu-0 while three hosts sat idle, because
    a 1 s (wall) load was priced as 5.9 s plus a 6 s penalty."""
    queued = 6
    assert Router(tuning=Tuning()).route(ANALYSIS, _fleet(1.0, queued)).host != "gpu-0"
    assert Router(tuning=Tuning()).route(ANALYSIS, _fleet(QUARTER, queued)).host == "gpu-0"


def test_every_constant_in_seconds_or_tokens_per_second_is_converted() -> None:
    """A new Tuning field named in seconds (``_s``, ``_s_per_gb``) or tokens/s (``_tps``) must
    join SECONDS or TOKEN_RATES, or a faster fleet would price it in the wrong clock."""
    names = {f.name for f in fields(Tuning)}
    assert {n for n in names if n.endswith(("_s", "_s_per_gb"))} == set(SECONDS)
    assert {n for n in names if n.endswith("_tps")} == set(TOKEN_RATES)
