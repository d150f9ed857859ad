"""Cutting queued batch docs into one chunk per host for an autobatch round. Pure: no I/O.

A *lane* is a host that may embed with the job's model (the router's filters decide: installed,
not down, circuit not open). Each lane gets one chunk per round, sized so that every lane needs
about the same time: ``n = rate × T`` with ``T = max_chunk / fastest rate`` (seconds), where
``rate`` is the host's learned embedding rate in docs/s. A host without the model resident pays
its load time first, so its chunk is ``rate × (T − load_s)`` (at least one doc, which starts the
load). Lanes with the model loaded come first, so a small round never wakes a cold host.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass

from sollol.names import normalize_model
from sollol.router import FleetSnapshot, NoHostAvailable, RequestProfile, Router

__all__ = ["DEFAULT_DOCS_PER_S", "Lane", "lanes_for", "part_sizes", "split"]

DEFAULT_DOCS_PER_S = 50.0  # a host never measured: a modest guess, corrected after one chunk


@dataclass(frozen=True, slots=True)
class Lane:
    """One host that can take a chunk: learned rate (docs/s), residency, cold-load cost (s)."""

    host: str
    docs_per_s: float
    loaded: bool
    load_s: float = 0.0


def lanes_for(
    snapshot: FleetSnapshot,
    model: str,
    rates: Mapping[str, float],
    priority: int,
    rng: random.Random | None = None,
) -> list[Lane]:
    """Every host the router accepts for an embedding of ``model``, loaded ones first."""
    model = normalize_model(model)
    router = Router("performance", rng=rng or random.Random(0))
    profile = RequestProfile(
        model=model, endpoint="embed", task_type="embedding", priority=priority
    )
    chosen: list[str] = []
    while True:
        try:
            chosen.append(router.route(profile, snapshot, exclude=chosen).host)
        except NoHostAvailable:
            break
    known = [r for h, r in rates.items() if h in chosen and r > 0]
    default = sum(known) / len(known) if known else DEFAULT_DOCS_PER_S
    lanes = []
    for name in chosen:
        state = snapshot.host(name)
        loaded = state is not None and state.is_loaded(model)
        stats = state.stats.get(model) if state is not None else None
        load_s = 0.0 if loaded else float(stats.load_s if stats and stats.load_s else 1.0)
        lanes.append(Lane(name, rates.get(name) or default, loaded, load_s))
    return sorted(lanes, key=lambda lane: not lane.loaded)


def split(
    lanes: list[Lane], docs: int, max_chunk: int, fastest: float | None = None
) -> list[tuple[str, int]]:
    """(host, docs) per lane for a round of at most ``docs`` docs, each chunk ≤ ``max_chunk``;
    ``fastest``: the fleet's fastest rate when ``lanes`` are only the idle part of it."""
    if not lanes or docs <= 0:
        return []
    fastest = fastest or max(lane.docs_per_s for lane in lanes)
    target_s = max_chunk / fastest
    out: list[tuple[str, int]] = []
    left = docs
    for lane in lanes:
        budget_s = target_s - (0.0 if lane.loaded else lane.load_s)
        n = max(1, min(max_chunk, int(lane.docs_per_s * budget_s)))
        n = min(n, left)
        if n <= 0:
            break
        out.append((lane.host, n))
        left -= n
    return out


def part_sizes(n: int, lanes: list[Lane], threshold: int) -> list[int]:
    """Inputs per part: proportional to the lanes' docs/s, one part per ``threshold`` inputs at
    most, every part non-empty; [n] when there is nothing to share."""
    k = min(len(lanes), math.ceil(n / max(1, threshold)))
    if k <= 1 or n <= threshold:
        return [n]
    rates = [lane.docs_per_s for lane in lanes[:k]]
    sizes = [max(1, int(n * r / sum(rates))) for r in rates]
    sizes[0] += n - sum(sizes)  # rounding goes to the first (loaded, fastest-ranked) host
    return [s for s in sizes if s > 0]
