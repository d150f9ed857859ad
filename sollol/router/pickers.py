"""Pickers: one per strategy, each choosing among the eligible hosts of one decision.

Every picker sees the same ranking (scores, costs) so that decisions of all strategies report
the same factors and alternatives; only the rule that picks differs:

- ``performance``: the host where the prompt is probably cached when that saves more than it
  costs (:mod:`sollol.router.prefix`; with ``Tuning.prefix_routing`` off or no record of
  prefixes in the snapshot, the conversation's previous host), else the highest score (hosts
  exactly alike: one at random);
- ``priority``: session affinity, else least (running + queued at ≥ p + 1) / slots, a cold
  model counting as one more slot of work (priority-aware least loaded, no learned rates);
- ``least_connections``: least running + queued (Envoy's least-request with full knowledge);
- ``round_robin``: the next host in turn (the turn is the picker's only state);
- ``random``: uniform among the eligible hosts.

Ties of a counting rule are broken at random, from the RNG the router was given.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Protocol

from sollol.router.affinity import sticky_host
from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.prefix import prefix_pick
from sollol.router.ranking import Ranking
from sollol.router.tuning import Tuning

__all__ = [
    "PICKERS",
    "LeastConnections",
    "LeastLoadedAtPriority",
    "Performance",
    "Pick",
    "Picker",
    "RandomPick",
    "RoundRobin",
]


@dataclass(frozen=True, slots=True)
class Pick:
    """The chosen host's index in the candidates and the rule that chose it ("" = the score)."""

    index: int
    rule: str


class Picker(Protocol):
    """Chooses one of ``hosts`` (never empty) for ``profile``."""

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick: ...


def least(keys: Sequence[float], rng: random.Random) -> int:
    """Index of the smallest key; among equal smallest keys, one drawn from ``rng``."""
    low = min(keys)
    ties = [i for i, k in enumerate(keys) if k == low]
    return ties[0] if len(ties) == 1 else ties[rng.randrange(len(ties))]


class Performance:
    """Session affinity, else the highest score; among hosts exactly alike (equal score and
    cost), one drawn at random — always taking the first would pile onto it (the first host of
    an identical fleet got 26–31 % of the requests instead of 25 %)."""

    def __init__(self, rng: random.Random, tuning: Tuning) -> None:
        self.rng, self.tuning = rng, tuning

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick:
        if self.tuning.prefix_routing and snapshot.prefixes and profile.prefix_blocks:
            cached = prefix_pick(profile, snapshot, hosts, ranking, self.tuning)
            if cached is not None:
                return cached
        else:  # no record (or a prompt under one block): the conversation's previous host
            sticky = sticky_host(profile, snapshot, hosts, self.tuning)
            if sticky is not None:
                return Pick(sticky, "session affinity")
        best = ranking.best()
        return Pick(best[0] if len(best) == 1 else best[self.rng.randrange(len(best))], "")


class LeastLoadedAtPriority:
    """Session affinity, else least (running + queued at ≥ p + 1) / slots + (0 resident, 1 cold)."""

    def __init__(self, rng: random.Random, tuning: Tuning) -> None:
        self.rng, self.tuning = rng, tuning

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick:
        sticky = sticky_host(profile, snapshot, hosts, self.tuning)
        if sticky is not None:
            return Pick(sticky, "session affinity")
        p, model = profile.priority, profile.model
        keys = [
            (h.running + h.queued_at_or_above(p) + 1) / max(1, h.slots)
            + (0.0 if h.is_loaded(model) else 1.0)
            for h in hosts
        ]
        return Pick(least(keys, self.rng), "least loaded at this priority")


class LeastConnections:
    """Least running + queued; ties at random."""

    def __init__(self, rng: random.Random, tuning: Tuning) -> None:
        self.rng = rng

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick:
        keys = [h.running + h.queued_total for h in hosts]
        return Pick(least(keys, self.rng), "least connections")


class RoundRobin:
    """The next eligible host in turn: decision n takes candidate n mod len(hosts)."""

    def __init__(self, rng: random.Random, tuning: Tuning) -> None:
        self.turn = 0

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick:
        self.turn += 1
        return Pick((self.turn - 1) % len(hosts), "next in turn")


class RandomPick:
    """Uniform among the eligible hosts."""

    def __init__(self, rng: random.Random, tuning: Tuning) -> None:
        self.rng = rng

    def __call__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> Pick:
        return Pick(self.rng.randrange(len(hosts)), "uniform draw")


# strategy name → picker factory, in the order the CLI and errors list them
PICKERS: Mapping[str, Callable[[random.Random, Tuning], Picker]] = MappingProxyType(
    {
        "performance": Performance,
        "round_robin": RoundRobin,
        "random": RandomPick,
        "least_connections": LeastConnections,
        "priority": LeastLoadedAtPriority,
    }
)
