"""Every scorer pinned by a table; each row says why its value is right."""

from __future__ import annotations

import pytest

from sollol.router import Estimator, HostState, RequestProfile, Router, Tuning, Weights
from sollol.router import scorers as s

from .fleet import CODER, LLAMA, host, request, snap, stats

T = Tuning()


def ctx(
    profile: RequestProfile | None = None, best_cost_s: float = 1.0, fastest_gen_tps: float = 80.0
) -> s.ScoringContext:
    """What one decision knows, for a request on an otherwise empty fleet."""
    p = profile or request()
    fleet = snap()
    return s.ScoringContext(p, fleet, T, Estimator(p, fleet, T), best_cost_s, fastest_gen_tps)


@pytest.mark.parametrize(
    ("best", "cost", "expected"),
    [
        (2.0, 2.0, 1.0),  # the fastest host itself
        (2.0, 4.0, 0.5),  # twice as slow → half
        (2.0, 20.0, 0.1),  # ten times as slow
        (0.0, 0.0, 1.0),  # a zero-cost prediction (empty request) is not a division error
    ],
)
def test_speed(best: float, cost: float, expected: float) -> None:
    assert s.Speed()(ctx(best_cost_s=best), host("a"), cost) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (host("a", learned={LLAMA: stats(success_rate=0.9)}), 0.9),  # the model's own record
        (host("a", success_rate=0.7), 0.7),  # no sample for the model: the host-wide rate
        (
            host("a", learned={LLAMA: stats(success_rate=0.2, samples=0)}, success_rate=0.8),
            0.8,
        ),  # stats without samples are not evidence
    ],
)
def test_success(h: HostState, expected: float) -> None:
    assert s.Success()(ctx(), h, 1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("health", "circuit", "expected"),
    [
        ("healthy", "closed", 1.0),
        ("degraded", "closed", T.degraded_factor),
        ("healthy", "half_open", T.half_open_factor),  # probing after failures
        ("degraded", "half_open", T.degraded_factor * T.half_open_factor),  # both penalties
    ],
)
def test_health(health: str, circuit: str, expected: float) -> None:
    h = host("a", health=health, circuit=circuit)
    assert s.Health()(ctx(), h, 1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("needs_gpu", "tags", "expected"),
    [
        (False, ("cpu",), 1.0),  # a light request may run on a CPU box
        (True, ("gpu",), 1.0),
        (True, ("cpu",), T.cpu_gpu_need_factor),  # a heavy one should not
    ],
)
def test_gpu(needs_gpu: bool, tags: tuple[str, ...], expected: float) -> None:
    assert s.Gpu()(ctx(request(needs_gpu=needs_gpu)), host("a", tags=tags), 1.0) == expected


@pytest.mark.parametrize(
    ("running", "queued", "slots", "expected"),
    [
        (0, 0, 4, 1.0),  # idle
        (2, 0, 4, 1 / 1.5),  # half full: occupancy ½
        (4, 0, 4, 0.5),  # full
        (4, 4, 4, 1 / 3),  # full with as many waiting: occupancy 2
        (1, 0, 1, 0.5),  # a one-slot CPU box with one request is full too
    ],
)
def test_load(running: int, queued: int, slots: int, expected: float) -> None:
    h = host("a", running=running, queued={5: queued}, slots=slots)
    assert s.Load()(ctx(), h, 1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("priority", "running", "relative_speed", "expected"),
    [
        (10, 4, 1.0, 1.0),  # critical requests are never steered away
        (1, 0, 1.0, 1.0),  # an idle host is free for anyone
        (1, 4, 1.0, 0.5),  # p1 on the busy fastest host: the largest penalty, ½
        (1, 4, 0.5, 0.75),  # … half as much on a host half as fast
        (1, 4, 2.0, 0.5),  # a host faster than the reference counts as the fastest
        (5, 4, 1.0, 1 - 0.5 * (5 / 9)),  # p5 sits in between: u = 4/9, 1 − u = 5/9
        (1, 2, 1.0, 0.75),  # half busy → half the penalty
    ],
)
def test_priority(priority: int, running: int, relative_speed: float, expected: float) -> None:
    # the host generates at 80 tokens/s; the fastest candidate at 80 / relative_speed
    h = host("a", running=running, slots=4, learned={LLAMA: stats(gen_tps=80.0)})
    c = ctx(request(priority=priority), fastest_gen_tps=80.0 / relative_speed)
    assert s.Priority()(c, h, 1.0) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("task", "tags", "expected"),
    [
        ("code", frozenset({"gpu", "code"}), 1.0),  # the specialist for its specialty
        ("code", frozenset({"gpu"}), 0.9),  # a generalist
        ("chat", frozenset({"gpu", "code"}), 0.8),  # keep the code box for code
        ("chat", frozenset({"gpu"}), 0.9),
    ],
)
def test_specialization(task: str, tags: frozenset[str], expected: float) -> None:
    assert s.Specialization()(ctx(request(task_type=task)), host("a", tags=tags), 1.0) == expected


@pytest.mark.parametrize(
    ("h", "expected"),
    [
        (host("a", installed=(CODER,), loaded=(CODER,)), 1.0),  # resident: nothing to load
        (
            host("a", installed=(LLAMA, CODER), loaded=(LLAMA,), vram_mb=24576.0),
            0.5 + 0.5 * (24576 - 2000 - 4700) / 24576,
        ),  # fits beside llama: more room, higher
        (
            host("a", installed=(LLAMA, CODER), loaded=(LLAMA,), vram_mb=6000.0),
            0.2,
        ),  # does not fit in VRAM → would evict
        (
            host("a", installed=(LLAMA, CODER), loaded=(LLAMA,), max_loaded_models=1),
            0.2,
        ),  # the model slots are full → would evict
        (
            host("a", installed=(LLAMA, CODER), loaded=(LLAMA,), vram_mb=0.0, tags=("cpu",)),
            0.5,
        ),  # CPU box: VRAM unknown, a model slot is free
    ],
)
def test_headroom(h: HostState, expected: float) -> None:
    assert s.Headroom()(ctx(request(CODER)), h, 1.0) == pytest.approx(expected)


def test_every_default_scorer_has_a_weight_and_every_weight_a_scorer() -> None:
    names = [scorer.name for scorer in s.DEFAULT_SCORERS]
    assert len(set(names)) == len(names)  # a factor is reported once, by its name
    assert set(names) == set(Weights.__dataclass_fields__)


def test_weights_pair_with_scorers_by_name_not_by_position() -> None:
    w = Weights(
        speed=2, success=0, health=0, gpu=0, load=0, priority=0, specialization=0, headroom=2
    )
    assert w.shares(["headroom", "speed", "load"]) == (0.5, 0.5, 0.0)
    assert sum(Weights().shares([x.name for x in s.DEFAULT_SCORERS])) == pytest.approx(1.0)


def test_a_scorer_without_a_weight_is_refused() -> None:
    class Cache:
        name = "prompt_cache"

        def __call__(self, ctx: s.ScoringContext, h: HostState, cost_s: float) -> float:
            return 1.0

    with pytest.raises(ValueError, match="no weight for factor 'prompt_cache'"):
        Router(scorers=(*s.DEFAULT_SCORERS, Cache()))


def test_scorers_of_zero_total_weight_are_refused() -> None:
    w = Weights(speed=0, success=1)
    with pytest.raises(ValueError, match="sum to 0"):
        Router(weights=w, scorers=(s.Speed(),))


def test_router_reports_each_scorer_by_name_and_weighs_it() -> None:
    # speed alone decides: the faster host wins although the other is idle
    fast = host("fast", learned={LLAMA: stats(gen_tps=160.0)}, running=3)
    idle = host("idle", learned={LLAMA: stats(gen_tps=80.0)})
    d = Router(scorers=(s.Speed(), s.Load())).route(request(), snap(fast, idle))
    assert d.host == "fast" and set(d.factors) == {"speed", "load"}
    # load alone decides: the idle host wins, and its score is its load factor, 1
    only_load = Weights(
        speed=0, success=0, health=0, gpu=0, load=1, priority=0, specialization=0, headroom=0
    )
    d = Router(weights=only_load, scorers=(s.Speed(), s.Load())).route(request(), snap(fast, idle))
    assert d.host == "idle" and d.score == 1.0 and d.factors["speed"] < 1.0


def test_weights_must_be_non_negative_with_a_positive_sum() -> None:
    with pytest.raises(ValueError, match="weights"):
        Weights(speed=-1)
    with pytest.raises(ValueError, match="weights"):
        Weights(
            speed=0,
            success=0,
            health=0,
            gpu=0,
            load=0,
            priority=0,
            specialization=0,
            headroom=0,
            context=0,
        )
