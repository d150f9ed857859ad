"""Learning: EWMA updates from Ollama's timings, and predictions converging on the truth."""

from __future__ import annotations

import dataclasses
import json
import random
from pathlib import Path

import pytest

from sollol.router import (
    ModelStats,
    TimingSample,
    predict_duration_s,
    update_output_tokens,
    update_stats,
)
from sollol.router.tuning import CONCURRENCY_EXPONENT
from sollol.sim import physics
from sollol.sim.profile import load_profile

from .fleet import LLAMA, host, request, snap

ROOT = Path(__file__).resolve().parents[2]
OK = TimingSample(ok=True, prompt_tokens=100, prompt_s=0.05, gen_tokens=50, gen_s=1.0)


def test_first_sample_is_taken_as_is() -> None:
    s = update_stats(None, OK, alpha=0.2)
    assert (s.prompt_tps, s.gen_tps, s.load_s, s.success_rate, s.samples) == (
        2000.0,
        50.0,
        None,
        1.0,
        1,
    )


def test_early_samples_are_averaged_evenly_then_smoothed_with_alpha() -> None:
    s = update_stats(None, OK, alpha=0.2)
    s = update_stats(s, dataclasses.replace(OK, gen_s=0.5), alpha=0.2)  # 100 tok/s, weight ½
    assert s.gen_tps == pytest.approx(75.0)
    for _ in range(20):
        s = update_stats(s, OK, alpha=0.2)
    s2 = update_stats(s, dataclasses.replace(OK, gen_s=0.5), alpha=0.2)  # now weight alpha
    assert s2.gen_tps - s.gen_tps == pytest.approx(0.2 * (100.0 - s.gen_tps))


def test_load_time_is_learned_from_cold_samples_only() -> None:
    warm = dataclasses.replace(OK, load_s=0.01)
    cold = dataclasses.replace(OK, load_s=3.0, cold=True)
    assert update_stats(None, warm, alpha=0.2).load_s is None
    assert update_stats(None, cold, alpha=0.2).load_s == 3.0


def test_failures_only_move_the_success_rate_and_never_zero_it_at_once() -> None:
    s = update_stats(None, OK, alpha=0.2)
    failed = update_stats(s, TimingSample(ok=False), alpha=0.2)
    assert failed.success_rate == pytest.approx(0.8)
    assert (failed.prompt_tps, failed.gen_tps) == (s.prompt_tps, s.gen_tps)
    assert update_stats(None, TimingSample(ok=False), alpha=0.2).success_rate == 0.8


def test_degenerate_timings_are_ignored() -> None:
    s = update_stats(
        None,
        TimingSample(ok=True, prompt_tokens=5, prompt_s=0.0, gen_tokens=1, gen_s=0.001),
        alpha=0.2,
    )
    assert (s.prompt_tps, s.gen_tps) == (None, None)  # 0 s, and a single token, say nothing


def test_reported_concurrency_turns_observed_rates_into_solo_rates() -> None:
    shared = physics.per_slot_tps(100.0, 4)  # what each of 4 concurrent requests sees
    s = update_stats(
        None, TimingSample(ok=True, gen_tokens=100, gen_s=100 / shared, active=4), alpha=0.2
    )
    assert s.gen_tps == pytest.approx(100.0)


def test_alpha_must_be_in_0_1() -> None:
    with pytest.raises(ValueError, match="alpha"):
        update_stats(None, OK, alpha=0.0)
    with pytest.raises(ValueError, match="alpha"):
        update_output_tokens(None, 3, alpha=1.5)


def test_output_tokens_ewma() -> None:
    assert update_output_tokens(None, 120, 0.2) == 120.0
    assert update_output_tokens(100.0, 200, 0.2) == pytest.approx(120.0)


def test_stats_survive_the_workers_json_round_trip() -> None:
    s = update_stats(None, OK, alpha=0.2)
    assert ModelStats(**json.loads(json.dumps(dataclasses.asdict(s)))) == s


def test_concurrency_exponent_is_the_simulators() -> None:
    assert CONCURRENCY_EXPONENT == physics.CONCURRENCY_EXPONENT


@pytest.mark.parametrize("report_active", [True, False])
def test_predictions_converge_on_the_truth_as_samples_flow(report_active: bool) -> None:
    """Samples timed with the simulator's formulas for gpu-fast/llama3.2 (mixed.yaml) move the
    prediction from the conservative default to within a few percent of the true solo time,
    despite ±15 % timing noise."""
    spec = load_profile(ROOT / "deploy/sim/mixed.yaml").node("gpu-fast").models[LLAMA]
    rng = random.Random(4)
    profile = request(prompt_tokens=500, output_tokens=300)
    truth = physics.prompt_eval_seconds(500, spec.prompt_tps) + 300 / physics.per_slot_tps(
        spec.gen_tps, 1
    )
    stats: ModelStats | None = None
    errors = []
    for _ in range(61):
        h = host("gpu-fast", learned={LLAMA: stats} if stats else {})
        errors.append(abs(predict_duration_s(profile, h, snap(h)) / truth - 1.0))
        active = rng.randint(1, 4) if report_active else 1
        prompt, gen = rng.randint(20, 2000), max(2, physics.sample_output_tokens(rng))
        noise = rng.uniform(0.85, 1.15)
        sample = TimingSample(
            ok=True,
            prompt_tokens=prompt,
            prompt_s=physics.prompt_eval_seconds(prompt, spec.prompt_tps, active) * noise,
            gen_tokens=gen,
            gen_s=gen / physics.per_slot_tps(spec.gen_tps, active) * noise,
            active=active if report_active else 0,
        )
        stats = update_stats(stats, sample, alpha=0.2)
    assert errors[0] > 0.5  # before any sample: default rates, far off (and on the safe side)
    assert max(errors[10:]) < 0.12
    assert sum(errors[40:]) / len(errors[40:]) < 0.05
