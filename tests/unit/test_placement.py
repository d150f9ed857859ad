"""Placement rules: when a hot model gets another copy, where, and when it does not."""

from __future__ import annotations

import math
from types import MappingProxyType

from sollol.router.model import FleetSnapshot, HostState, LoadedModel
from sollol.router.placement import ModelDemand, demands_from, plan, predicted_wait_s

HOT = "hot:latest"
OTHER = "other:latest"


def host(name: str, loaded: tuple[str, ...] = (), **kw: object) -> HostState:
    sizes = {HOT: 4000.0, OTHER: 4000.0}
    args: dict[str, object] = {
        "name": name,
        "installed": MappingProxyType(dict(sizes)),
        "loaded": tuple(LoadedModel(m, sizes[m]) for m in loaded),
        "slots": 2,
        "max_loaded_models": 2,
        "vram_mb": 10_000.0,
    }
    args.update(kw)
    return HostState(**args)  # type: ignore[arg-type]


def fleet(*hosts: HostState) -> FleetSnapshot:
    return FleetSnapshot(hosts=hosts)


OVERLOADED = ModelDemand(HOT, arrival_rps=3.0, service_s=1.0, waiting=10)  # 3 > 1 copy x 2 slots


def test_predicted_wait_is_the_backlog_over_capacity_or_unbounded_when_overloaded():
    assert predicted_wait_s(ModelDemand(HOT, 0.5, 2.0, waiting=4), copies=1, slots=2) == 4.0
    assert predicted_wait_s(ModelDemand(HOT, 0.5, 2.0, waiting=4), copies=2, slots=2) == 2.0
    assert math.isinf(predicted_wait_s(OVERLOADED, copies=1, slots=2))
    observed = ModelDemand(HOT, 0.1, 1.0, waiting=0, observed_wait_s=7.0)
    assert predicted_wait_s(observed, copies=1, slots=2) == 7.0
    assert predicted_wait_s(ModelDemand(HOT), copies=0, slots=2) == 0.0  # no demand, no wait


def test_a_hot_model_is_preloaded_where_it_is_installed_and_there_is_room():
    decisions = plan(fleet(host("a", (HOT,)), host("b")), [OVERLOADED], threshold_s=5.0)
    assert [(d.model, d.host) for d in decisions] == [(HOT, "b")]
    assert "pre-load on b" in decisions[0].reason and "unbounded" in decisions[0].reason


def test_below_the_threshold_nothing_happens():
    calm = ModelDemand(HOT, arrival_rps=0.5, service_s=1.0, waiting=2)  # 1 s backlog
    assert plan(fleet(host("a", (HOT,)), host("b")), [calm], threshold_s=5.0) == []


def test_a_model_with_work_is_never_evicted():
    full = host("b", (OTHER,), max_loaded_models=1, running_by_model=MappingProxyType({OTHER: 1}))
    decisions = plan(fleet(host("a", (HOT,)), full), [OVERLOADED], threshold_s=5.0)
    assert decisions[0].host == ""
    assert "without evicting a model in use" in decisions[0].reason
    queued_only = host("b", (OTHER,), max_loaded_models=1)
    busy = {"b": frozenset({OTHER})}
    assert plan(fleet(host("a", (HOT,)), queued_only), [OVERLOADED], 5.0, busy)[0].host == ""


def test_an_idle_model_may_make_room():
    idle = host("b", (OTHER,), max_loaded_models=1, vram_mb=5000.0)
    assert plan(fleet(host("a", (HOT,)), idle), [OVERLOADED], threshold_s=5.0)[0].host == "b"


def test_a_resident_model_with_recent_requests_is_not_evicted():
    idle = host("b", (OTHER,), max_loaded_models=1, vram_mb=5000.0)
    recent = ModelDemand(OTHER, arrival_rps=0.1)  # nothing running now, but wanted
    assert plan(fleet(host("a", (HOT,)), idle), [OVERLOADED, recent], 5.0)[0].host == ""


def test_a_model_just_placed_waits_for_its_copy_to_show():
    hosts = fleet(host("a", (HOT,)), host("b"))
    assert plan(hosts, [OVERLOADED], 5.0, cooling=frozenset({HOT})) == []


def test_not_enough_vram_even_after_idle_models_leave():
    small = host("b", vram_mb=3000.0)
    assert plan(fleet(host("a", (HOT,)), small), [OVERLOADED], threshold_s=5.0)[0].host == ""


def test_at_most_one_placement_per_host_per_round_worst_wait_first():
    other_hot = ModelDemand(OTHER, arrival_rps=0.5, service_s=1.0, waiting=20)  # 10 s backlog
    hosts = fleet(host("a", (HOT, OTHER)), host("b"))
    decisions = plan(hosts, [other_hot, OVERLOADED], threshold_s=5.0)
    assert [(d.model, d.host) for d in decisions] == [(HOT, "b"), (OTHER, "")]


def test_unhealthy_or_open_circuit_hosts_get_nothing():
    for bad in (host("b", health="down"), host("b", circuit="open")):
        assert plan(fleet(host("a", (HOT,)), bad), [OVERLOADED], 5.0)[0].host == ""


def test_demand_comes_from_recent_calls_and_running_work():
    calls = [
        {"ts": 95.0, "model": HOT, "actual_ms": 3000, "queue_wait_ms": 1000},
        {"ts": 99.0, "model": HOT, "actual_ms": 5000, "queue_wait_ms": 3000},
        {"ts": 10.0, "model": OTHER, "actual_ms": 1000, "queue_wait_ms": 0},  # outside the window
    ]
    busy = host(
        "a", (HOT,), running_by_model=MappingProxyType({HOT: 2}), queued=(0,) * 4 + (6,) + (0,) * 5
    )
    (d,) = demands_from(calls, fleet(busy), now=100.0, window_s=10.0)
    assert d.model == HOT
    assert d.arrival_rps == 0.2 and d.service_s == 2.0 and d.observed_wait_s == 2.0
    assert d.running == 2 and d.waiting == 6


def test_a_cold_load_does_not_count_as_service_time():
    calls = [
        {"ts": 99.0, "model": HOT, "actual_ms": ms, "queue_wait_ms": 0}
        for ms in (2000, 2100, 30000)
    ]
    (d,) = demands_from(calls, fleet(host("a", (HOT,))), now=100.0, window_s=10.0)
    assert d.service_s == 2.1
