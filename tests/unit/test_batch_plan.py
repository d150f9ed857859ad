"""Cutting a round into chunks (sollol/workers/batch_plan.py): sizes proportional to each host's
learned docs/s, cold hosts pay their load time, hosts the router refuses get nothing."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from sollol.router import FleetSnapshot, HostState, LoadedModel, ModelStats
from sollol.workers.batch_plan import DEFAULT_DOCS_PER_S, Lane, lanes_for, part_sizes, split

MODEL = "nomic-embed-text:latest"


@pytest.mark.parametrize(
    ("lanes", "docs", "expected", "why"),
    [
        (
            [Lane("a", 100, True), Lane("b", 100, True)],
            1000,
            [("a", 200), ("b", 200)],
            "equal hosts, equal chunks of max_chunk",
        ),
        (
            [Lane("a", 200, True), Lane("b", 50, True)],
            1000,
            [("a", 200), ("b", 50)],
            "b is 4x slower: a quarter of the docs, both take 1 s",
        ),
        (
            [Lane("a", 100, True), Lane("b", 100, False, load_s=1.5)],
            1000,
            [("a", 200), ("b", 50)],
            "b must load first: 2 s budget minus 1.5 s of load",
        ),
        (
            [Lane("a", 100, True), Lane("b", 100, False, load_s=5.0)],
            1000,
            [("a", 200), ("b", 1)],
            "a load longer than the round still gets one doc, which starts the load",
        ),
        (
            [Lane("a", 100, True), Lane("b", 100, True)],
            250,
            [("a", 200), ("b", 50)],
            "fewer docs than capacity: loaded hosts first, then what is left",
        ),
        ([], 10, [], "no host can serve the model"),
    ],
)
def test_split(lanes, docs, expected, why):
    assert split(lanes, docs, max_chunk=200) == expected, why


def test_idle_hosts_get_chunks_sized_against_the_whole_fleet():
    # only the slow host is idle: its chunk still takes as long as the fast host's (1 s), not 200
    assert split([Lane("slow", 50, True)], 1000, max_chunk=200, fastest=200) == [("slow", 50)]


def _host(name, loaded=True, health="healthy", installed=True, stats=None):
    return HostState(
        name=name,
        installed=MappingProxyType({MODEL: 300.0} if installed else {}),
        loaded=(LoadedModel(MODEL, 300.0),) if loaded else (),
        health=health,
        stats=MappingProxyType({MODEL: stats} if stats else {}),
    )


def test_lanes_are_the_hosts_the_router_accepts_loaded_first():
    snapshot = FleetSnapshot(
        hosts=(
            _host("cold", loaded=False, stats=ModelStats(load_s=0.7)),
            _host("warm"),
            _host("down", health="down"),
            _host("other", installed=False),
        )
    )
    lanes = lanes_for(snapshot, "nomic-embed-text", {"warm": 300.0}, priority=2)
    assert [lane.host for lane in lanes] == ["warm", "cold"]
    assert lanes[0] == Lane("warm", 300.0, True, 0.0)
    # never measured: the mean of the measured hosts; its load time from the learned stats
    assert lanes[1] == Lane("cold", 300.0, False, 0.7)


def test_a_fleet_never_measured_gets_the_default_rate():
    lanes = lanes_for(FleetSnapshot(hosts=(_host("a"),)), MODEL, {}, priority=2)
    assert lanes == [Lane("a", DEFAULT_DOCS_PER_S, True, 0.0)]


@pytest.mark.parametrize(
    ("n", "rates", "expected", "why"),
    [
        (64, [100, 100], [64], "at the threshold: one ordinary call"),
        (100, [100, 100, 100], [50, 50], "two thresholds' worth: two parts although three hosts"),
        (300, [300, 100], [225, 75], "three times faster host, three times the inputs"),
        (1000, [100], [1000], "one host: nothing to share"),
    ],
)
def test_scatter_part_sizes(n, rates, expected, why):
    lanes = [Lane(f"h{i}", r, True) for i, r in enumerate(rates)]
    assert part_sizes(n, lanes, threshold=64) == expected, why
