"""Properties over arbitrary fleets: the router never picks an ineligible host, scores stay in
[0, 1], and NoHostAvailable is raised exactly when nothing is eligible."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sollol.router import (
    STRATEGIES,
    FleetSnapshot,
    HostState,
    LoadedModel,
    ModelStats,
    NoHostAvailable,
    RequestProfile,
    Router,
)
from sollol.router.estimate import Estimator
from sollol.router.ranking import Ranking

MODELS = ("llama3.2:latest", "qwen2.5-coder:7b", "nomic-embed-text:latest")
rates = st.one_of(st.none(), st.floats(0.5, 1e5))
model_stats = st.builds(
    ModelStats,
    prompt_tps=rates,
    gen_tps=rates,
    load_s=st.one_of(st.none(), st.floats(0.01, 600)),
    success_rate=st.floats(0, 1),
    samples=st.integers(0, 1000),
)


@st.composite
def hosts(draw: st.DrawFn, index: int) -> HostState:
    installed = draw(st.sets(st.sampled_from(MODELS), max_size=3))
    loaded = draw(st.sets(st.sampled_from(sorted(installed)), max_size=3)) if installed else set()
    slots = draw(st.integers(1, 8))
    return HostState(
        name=f"h{index}",
        installed={m: draw(st.floats(0, 50_000)) for m in installed},
        loaded=tuple(LoadedModel(m, draw(st.floats(0, 50_000))) for m in sorted(loaded)),
        slots=slots,
        max_loaded_models=draw(st.integers(1, 4)),
        vram_mb=draw(st.sampled_from([0.0, 8192.0, 24576.0])),
        running=draw(st.integers(0, 3 * slots)),
        running_by_model={m: draw(st.integers(0, slots)) for m in sorted(loaded)},
        queued=tuple(draw(st.lists(st.integers(0, 50), min_size=10, max_size=10))),
        stats={m: draw(model_stats) for m in sorted(installed)},
        health=draw(st.sampled_from(["healthy", "degraded", "down"])),
        circuit=draw(st.sampled_from(["closed", "open", "half_open"])),
        tags=frozenset(draw(st.sets(st.sampled_from(["gpu", "cpu", "code"])))),
        success_rate=draw(st.floats(0, 1)),
    )


@st.composite
def fleets(draw: st.DrawFn) -> FleetSnapshot:
    n = draw(st.integers(0, 6))
    hs = tuple(draw(hosts(i)) for i in range(n))
    return FleetSnapshot(
        hosts=hs,
        output_tokens={
            (m, "chat"): draw(st.floats(0, 4096)) for m in MODELS[: draw(st.integers(0, 3))]
        },
    )


profiles = st.builds(
    RequestProfile,
    model=st.sampled_from(MODELS),
    task_type=st.sampled_from(["chat", "code", "embedding", "summarization"]),
    prompt_tokens=st.integers(0, 100_000),
    output_tokens=st.one_of(st.none(), st.integers(1, 8192)),
    priority=st.integers(1, 10),
    session_key=st.one_of(st.none(), st.just("s")),
    needs_gpu=st.booleans(),
)


def _eligible(h: HostState, model: str, exclude: set[str]) -> bool:
    return (
        model in h.installed
        and h.health != "down"
        and h.circuit != "open"
        and h.name not in exclude
    )


NAMES = [f"h{i}" for i in range(6)]
# (strategy, excluded hosts, RNG seed, the host session "s" last went to)
setups = st.tuples(
    st.sampled_from(STRATEGIES),
    st.sets(st.sampled_from(NAMES), max_size=3),
    st.integers(0, 2**16),
    st.sampled_from(NAMES),
)


@settings(max_examples=150, deadline=None)
@given(fleet=fleets(), profile=profiles, setup=setups)
def test_route_never_returns_an_ineligible_host(
    fleet: FleetSnapshot, profile: RequestProfile, setup: tuple[str, set[str], int, str]
) -> None:
    strategy, exclude, seed, sticky = setup
    fleet = FleetSnapshot(
        hosts=fleet.hosts, output_tokens=fleet.output_tokens, affinity={"s": sticky}
    )
    router = Router(strategy, random.Random(seed))
    ok = [h for h in fleet.hosts if _eligible(h, profile.model, exclude)]
    try:
        d = router.route(profile, fleet, exclude=exclude)
    except NoHostAvailable as exc:
        assert not ok
        assert exc.model_unknown == (not any(profile.model in h.installed for h in fleet.hosts))
        return
    assert d.host in {h.name for h in ok}
    assert 0.0 <= d.score <= 1.0
    assert all(0.0 <= v <= 1.0 for v in d.factors.values())
    assert d.predicted_ms >= 0.0
    assert all(0.0 <= a.score <= 1.0 and a.host != d.host for a in d.alternatives)
    assert len(d.alternatives) <= 3 and d.reasoning


@settings(max_examples=150, deadline=None)
@given(fleet=fleets(), profile=profiles)
def test_lower_bound_never_exceeds_the_cost(fleet: FleetSnapshot, profile: RequestProfile) -> None:
    est = Estimator(profile, fleet)
    for h in fleet.hosts:
        if profile.model in h.installed:
            assert est.lower_bound(h) <= est.cost_s(h) + 1e-9


@settings(max_examples=150, deadline=None)
@given(fleet=fleets(), profile=profiles)
def test_pruning_picks_what_scoring_every_host_would(
    fleet: FleetSnapshot, profile: RequestProfile
) -> None:
    router = Router("performance")
    hosts = [
        h for h in fleet.hosts if _eligible(h, profile.model, set()) and h.circuit != "half_open"
    ]
    if not hosts:
        return
    est = Estimator(profile, fleet, router.tuning, peers=hosts)
    pruned = Ranking(profile, fleet, hosts, est, router.scorers, router.tuning)
    pruned.evaluate()
    full = Ranking(
        profile,
        fleet,
        hosts,
        Estimator(profile, fleet, router.tuning, peers=hosts),
        router.scorers,
        router.tuning,
    )
    every = sorted((full.score(i) for i in range(len(hosts))), reverse=True)
    best = pruned.best()[0]
    got = sorted((pruned.scores[i] for i in [best, *pruned.runners_up(best, 3)]), reverse=True)
    assert got == pytest.approx(every[: len(got)])
    assert len(got) == min(4, len(hosts))
