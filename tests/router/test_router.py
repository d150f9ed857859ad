"""Router behaviour, read as a specification."""

from __future__ import annotations

import random

import pytest

from sollol.router import STRATEGIES, NoHostAvailable, Router, RoutingError

from .fleet import CODER, EMBED, LLAMA, host, request, snap, stats

FAST = stats(prompt_tps=4000, gen_tps=120)
MID = stats(prompt_tps=1800, gen_tps=70)
SLOW = stats(prompt_tps=900, gen_tps=40)
CPU = stats(prompt_tps=120, gen_tps=12)


def route(*hosts: object, strategy: str = "performance", **kw: object) -> str:
    profile = kw.pop("profile", request())
    return Router(strategy).route(profile, snap(*hosts), **kw).host  # type: ignore[arg-type]


# --- performance ----------------------------------------------------------------------------
def test_router_prefers_host_with_model_loaded() -> None:
    cold = host("cold", loaded=(), learned={LLAMA: FAST})
    warm = host("warm", learned={LLAMA: FAST})
    assert route(cold, warm) == "warm"


def test_router_prefers_the_host_it_learned_is_faster() -> None:
    assert route(host("slow", learned={LLAMA: SLOW}), host("fast", learned={LLAMA: FAST})) == "fast"


def test_router_leaves_a_fast_host_whose_queue_costs_more_than_the_speed_gains() -> None:
    busy = host("fast", learned={LLAMA: FAST}, running=4, queued={5: 12})
    idle = host("mid", learned={LLAMA: MID})
    assert route(busy, idle) == "mid"


def test_router_waits_for_a_fast_host_rather_than_running_on_a_cpu_box() -> None:
    busy = host("fast", learned={LLAMA: FAST}, running=4, queued={5: 1})
    cpu = host("cpu", learned={LLAMA: CPU}, slots=1, tags=("cpu",), vram_mb=0.0)
    assert route(busy, cpu) == "fast"


def test_low_priority_queue_does_not_count_against_a_high_priority_request() -> None:
    # Celery serves priority 9 before the forty priority-1 messages waiting on "fast"
    fast = host("fast", learned={LLAMA: FAST}, running=4, queued={1: 40})
    slow = host("slow", learned={LLAMA: SLOW}, running=1)
    assert route(fast, slow, profile=request(priority=9)) == "fast"
    assert route(fast, slow, profile=request(priority=1)) == "slow"


def test_router_avoids_evicting_a_busy_model() -> None:
    # "full" would have to wait for its running coder requests, then evict the coder model
    full = host(
        "full",
        installed=(LLAMA, CODER),
        loaded=(CODER,),
        max_loaded_models=1,
        running=2,
        running_by_model={CODER: 2},
        learned={LLAMA: FAST},
    )
    roomy = host("roomy", installed=(LLAMA,), loaded=(), learned={LLAMA: MID})
    assert route(full, roomy) == "roomy"


def test_unknown_hosts_start_from_the_fleet_median_and_cpu_boxes_from_cpu_defaults() -> None:
    known = host("known", learned={LLAMA: MID}, running=4, queued={5: 2})
    new_gpu = host("new-gpu")
    new_cpu = host("new-cpu", slots=1, tags=("cpu",), vram_mb=0.0)
    assert route(known, new_gpu, new_cpu) == "new-gpu"


def test_degraded_host_is_penalized() -> None:
    a = host("a", learned={LLAMA: FAST}, health="degraded")
    b = host("b", learned={LLAMA: FAST})
    assert route(a, b) == "b"


def test_gpu_needing_request_prefers_a_gpu_to_a_cpu_box_a_little_faster() -> None:
    gpu = host("gpu", learned={LLAMA: SLOW})
    cpu = host(
        "cpu",
        learned={LLAMA: stats(prompt_tps=950, gen_tps=42)},
        slots=1,
        tags=("cpu",),
        vram_mb=0.0,
    )
    light, heavy = request(), request(needs_gpu=True)
    assert route(gpu, cpu, profile=light) == "cpu"
    assert route(gpu, cpu, profile=heavy) == "gpu"


def test_code_goes_to_the_code_box_when_speeds_are_equal() -> None:
    a = host("a", installed=(CODER,), loaded=(CODER,), learned={CODER: MID})
    b = host("b", installed=(CODER,), loaded=(CODER,), learned={CODER: MID}, tags=("gpu", "code"))
    assert route(a, b, profile=request(CODER, task_type="code")) == "b"


def test_equally_fast_hosts_are_balanced_by_occupancy() -> None:
    a = host("a", learned={LLAMA: FAST}, running=2)
    b = host("b", learned={LLAMA: FAST}, running=1)
    assert route(a, b) == "b"


def test_hosts_exactly_alike_share_the_work_instead_of_the_first_taking_it() -> None:
    # four identical idle hosts: every factor and cost ties, so no host may be favoured
    picks = _picks("performance", 3, n=400)
    assert all(80 < picks.count(h) < 120 for h in "abcd"), picks  # 100 each, σ ≈ 8.7
    assert picks == _picks("performance", 3, n=400)  # drawn from the router's RNG


def test_embedding_goes_where_the_embedder_is_resident() -> None:
    a = host("a", installed=(LLAMA, EMBED), loaded=(LLAMA,))
    b = host("b", installed=(LLAMA, EMBED), loaded=(LLAMA, EMBED))
    assert route(a, b, profile=request(EMBED, task_type="embedding", endpoint="embed")) == "b"


# --- decisions explain themselves -----------------------------------------------------------
def test_decision_carries_factors_reasoning_and_alternatives() -> None:
    hosts = (
        host("gpu-fast", learned={LLAMA: FAST}),
        host("gpu-mid", learned={LLAMA: MID}),
        host("gpu-slow", learned={LLAMA: SLOW}),
        host("cpu-box", learned={LLAMA: CPU}, slots=1, tags=("cpu",), vram_mb=0.0),
        host("spare", learned={LLAMA: SLOW}, running=4, queued={5: 8}),
    )
    d = Router().route(request(), snap(*hosts))
    assert d.host == "gpu-fast" and d.strategy == "performance"
    assert 0.0 <= d.score <= 1.0
    assert set(d.factors) == {
        "speed",
        "success",
        "health",
        "gpu",
        "load",
        "priority",
        "specialization",
        "headroom",
        "context",
        "prefix",
    }
    assert all(0.0 <= v <= 1.0 for v in d.factors.values())
    assert [a.host for a in d.alternatives] == ["gpu-mid", "gpu-slow", "cpu-box"]
    assert [a.score for a in d.alternatives] == sorted(
        (a.score for a in d.alternatives), reverse=True
    )
    assert d.reasoning.startswith("gpu-fast: model loaded, 0 ahead at p≥5, predicted")
    assert "gpu-mid" in d.reasoning and "cpu-box" in d.reasoning
    assert d.predicted_ms == pytest.approx(1000 * (100 / 4000 + 200 / 120))


def test_reasoning_names_the_factors_that_beat_a_faster_host() -> None:
    fast = host("fast", learned={LLAMA: FAST}, health="degraded")
    mid = host("mid", learned={LLAMA: stats(prompt_tps=4000, gen_tps=100)})  # ~17 % slower
    d = Router().route(request(), snap(fast, mid))
    # health is the only factor besides speed in which the two differ (degraded: 0.25)
    assert d.host == "mid" and d.factors["speed"] < 1.0
    assert d.reasoning.endswith("; chosen over fast for health 1.00 vs 0.25")


def test_reasoning_names_no_factor_when_the_fastest_host_wins_or_a_rule_decides() -> None:
    fast, mid = host("fast", learned={LLAMA: FAST}), host("mid", learned={LLAMA: MID})
    assert "chosen over" not in Router().route(request(), snap(fast, mid)).reasoning
    sticky = Router().route(request(session_key="s"), snap(fast, mid, affinity={"s": "mid"}))
    assert sticky.host == "mid" and "chosen over" not in sticky.reasoning


def test_reasoning_names_a_cold_load() -> None:
    d = Router().route(request(), snap(host("a", loaded=(), learned={LLAMA: FAST})))
    assert "model not loaded (load ~2.0 s)" in d.reasoning


# --- session affinity -----------------------------------------------------------------------
def test_session_goes_back_to_its_host_while_under_the_cap() -> None:
    a = host("a", learned={LLAMA: FAST})
    b = host("b", learned={LLAMA: MID}, running=2)
    profile = request(session_key="s1")
    d = Router().route(profile, snap(a, b, affinity={"s1": "b"}))
    assert d.host == "b" and d.reasoning.startswith("session affinity → b:")


def test_session_affinity_lapses_when_the_host_is_at_its_cap() -> None:
    a = host("a", learned={LLAMA: FAST})
    b = host("b", learned={LLAMA: MID}, running=4)  # 4 ahead / 4 slots = cap 1.0
    assert Router().route(request(session_key="s1"), snap(a, b, affinity={"s1": "b"})).host == "a"


def test_session_affinity_lapses_when_the_model_left_the_host() -> None:
    a = host("a", learned={LLAMA: FAST})
    b = host("b", loaded=(), learned={LLAMA: FAST})
    assert Router().route(request(session_key="s1"), snap(a, b, affinity={"s1": "b"})).host == "a"


def test_session_affinity_never_overrides_exclusion() -> None:
    a, b = host("a"), host("b")
    d = Router().route(request(session_key="s1"), snap(a, b, affinity={"s1": "b"}), exclude=("b",))
    assert d.host == "a"


# --- eligibility and errors -----------------------------------------------------------------
def test_excluded_hosts_are_never_chosen() -> None:
    for strategy in STRATEGIES:
        hosts = [host(f"h{i}", learned={LLAMA: FAST}) for i in range(4)]
        router = Router(strategy, random.Random(1))
        for _ in range(20):
            assert router.route(request(), snap(*hosts), exclude=("h0", "h2")).host in {"h1", "h3"}


@pytest.mark.parametrize(
    ("hosts", "model_unknown", "reason"),
    [
        ((), True, "no hosts are registered"),
        ((host("a"), host("b")), True, "no host has model 'qwen2.5-coder:7b' installed"),
        # a down host still proves the model exists: 503 (try later), not 404
        ((host("a", installed=(CODER,), health="down"),), False, "a is down"),
        ((host("a", installed=(CODER,), circuit="open"),), False, "a has its circuit open"),
    ],
)
def test_no_host_available_says_404_or_503(
    hosts: tuple[object, ...], model_unknown: bool, reason: str
) -> None:
    with pytest.raises(NoHostAvailable) as info:
        Router().route(request(CODER), snap(*hosts))  # type: ignore[arg-type]
    assert isinstance(info.value, RoutingError)
    assert info.value.model == CODER
    assert info.value.model_unknown is model_unknown
    assert reason in info.value.reason


def test_exhausted_failover_is_a_503() -> None:
    with pytest.raises(NoHostAvailable) as info:
        Router().route(request(), snap(host("a"), host("b")), exclude=["a", "b"])
    assert not info.value.model_unknown
    assert "a already tried" in info.value.reason


def test_half_open_host_gets_a_small_share() -> None:
    router = Router("round_robin", random.Random(7))
    hosts = snap(host("a"), host("b"), host("c", circuit="half_open"))
    picks = [router.route(request(), hosts).host for _ in range(3000)]
    share = picks.count("c") / len(picks)
    # eligible in 10 % of decisions, then one of three in turn → about 3 %
    assert 0.01 < share < 0.06


def test_half_open_host_is_used_when_it_is_the_only_one() -> None:
    assert route(host("a", circuit="half_open"), host("b", health="down")) == "a"


def test_unknown_strategy_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="performance, round_robin, random"):
        Router("fastest")


# --- the baselines --------------------------------------------------------------------------
def test_round_robin_cycles_among_eligible_hosts() -> None:
    router = Router("round_robin")
    s = snap(host("a"), host("b"), host("c"))
    assert [router.route(request(), s).host for _ in range(6)] == ["a", "b", "c"] * 2


def _picks(strategy: str, seed: int, n: int = 200) -> list[str]:
    router = Router(strategy, random.Random(seed))
    s = snap(host("a"), host("b"), host("c"), host("d"))  # idle and alike: every pick is a draw
    return [router.route(request(), s).host for _ in range(n)]


@pytest.mark.parametrize("strategy", ["random", "least_connections"])
def test_picks_are_reproducible_from_the_rng_and_differ_between_seeds(strategy: str) -> None:
    assert _picks(strategy, 3) == _picks(strategy, 3)  # the same seed, the same 200 picks
    assert _picks(strategy, 3) != _picks(strategy, 4)
    assert len(set(_picks(strategy, 3))) == 4  # each sequence really draws


def test_random_is_uniform() -> None:
    router = Router("random", random.Random(3))
    s = snap(host("a"), host("b"), host("c"))
    many = [router.route(request(), s).host for _ in range(3000)]
    # 1000 expected per host, binomial σ ≈ 26: ±100 is ~4σ
    assert all(900 < many.count(h) < 1100 for h in "abc")


def test_least_connections_counts_running_and_queued_among_hosts_with_the_model() -> None:
    s = snap(
        host("a", running=3),
        host("b", running=1, queued={1: 3}),
        host("c", running=2),
        host("d", installed=(CODER,), loaded=(CODER,)),
    )  # idle but lacks the model
    assert Router("least_connections").route(request(), s).host == "c"


def test_least_connections_breaks_ties_at_random() -> None:
    router = Router("least_connections", random.Random(5))
    s = snap(host("a"), host("b"))
    assert {router.route(request(), s).host for _ in range(50)} == {"a", "b"}


def test_priority_strategy_counts_only_work_at_or_above_the_priority() -> None:
    s = snap(host("a", running=4, queued={1: 20}), host("b", running=4, queued={9: 3}))
    assert Router("priority").route(request(priority=9), s).host == "a"
    assert Router("priority").route(request(priority=1), s).host == "b"


def test_priority_strategy_prefers_a_resident_model() -> None:
    s = snap(host("a", loaded=()), host("b", running=2))
    assert Router("priority").route(request(), s).host == "b"
