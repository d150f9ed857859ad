"""Placement of hot models: where to pre-load another copy of a model whose requests wait.

Pure and sans-I/O: the beat job (sollol/workers/placement.py) reads the fleet and recent calls,
this module decides, the beat job sends the load-only requests.

Per model, :func:`predicted_wait_s` estimates how long a new request would wait for a slot on
the copies already resident: with ``c`` hosts holding it, ``s`` slots each, service time ``S``
seconds, arrival rate ``λ`` requests/s and ``q`` requests waiting, the backlog drains in
``q·S/(c·s)``; when ``λ·S ≥ c·s`` (offered load at or above capacity) the queue grows without
bound and the wait is infinite. The larger of that and the mean queue wait observed over the
recent calls is the prediction.

:func:`plan` then picks, for each model whose prediction exceeds the threshold (worst first), a
healthy host that has it installed but not loaded and has *room*: fewer than
``max_loaded_models`` resident or an idle one to replace, and enough VRAM free or held by idle
models — a model with work (running, queued, or requests in the window) is never evicted. At
most one placement per host per round. Every model over the threshold gets an explanation, placed or not.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sollol.router.model import FleetSnapshot, HostState

__all__ = ["ModelDemand", "Placement", "demands_from", "plan", "predicted_wait_s"]


@dataclass(frozen=True, slots=True)
class ModelDemand:
    """Demand for one model over the recent window."""

    model: str
    arrival_rps: float = 0.0  # requests per second
    service_s: float = 1.0  # seconds one request holds a slot
    waiting: int = 0  # requests queued for it now
    running: int = 0  # requests executing now
    observed_wait_s: float = 0.0  # mean queue wait of its recent requests


@dataclass(frozen=True, slots=True)
class Placement:
    """A decision about one hot model: ``host`` is where to pre-load it ("" = nowhere)."""

    model: str
    host: str
    predicted_wait_s: float
    reason: str


def predicted_wait_s(demand: ModelDemand, copies: int, slots: int) -> float:
    """Seconds a new request for ``demand.model`` would wait on ``copies`` resident copies."""
    capacity = copies * max(1, slots)
    if capacity == 0:
        return float("inf") if demand.arrival_rps > 0 or demand.waiting else 0.0
    if demand.arrival_rps * demand.service_s >= capacity:
        return float("inf")
    backlog = demand.waiting * demand.service_s / capacity
    return max(backlog, demand.observed_wait_s)


def plan(
    snapshot: FleetSnapshot,
    demands: Iterable[ModelDemand],
    threshold_s: float,
    busy: Mapping[str, frozenset[str]] | None = None,
    cooling: frozenset[str] = frozenset(),
) -> list[Placement]:
    """Placements for this round; ``busy[host]`` = models with work queued there (never evicted);
    ``cooling`` = models placed a moment ago (their copy may not show as resident yet).

    A resident model that had requests in the window counts as in use: it is not evicted either,
    so a pre-load never pushes out a model that the next minutes will want back."""
    demands = list(demands)
    wanted = frozenset(d.model for d in demands if d.arrival_rps > 0 or d.running or d.waiting)
    given = busy or {}
    busy = {h.name: frozenset(given.get(h.name, frozenset())) | wanted for h in snapshot.hosts}
    hosts = [h for h in snapshot.hosts if h.health == "healthy" and h.circuit == "closed"]
    scored = []
    for d in demands:
        holders = [h for h in hosts if h.is_loaded(d.model)]
        slots = min((h.slots for h in holders), default=1)
        wait = predicted_wait_s(d, len(holders), slots)
        if wait > threshold_s and d.model not in cooling:
            scored.append((wait, d))
    scored.sort(key=lambda x: -x[0])
    used: set[str] = set()
    out = []
    for wait, d in scored:
        out.append(_place(d, wait, [h for h in hosts if h.name not in used], busy))
        if out[-1].host:
            used.add(out[-1].host)
    return out


def _place(
    d: ModelDemand, wait: float, hosts: list[HostState], busy: Mapping[str, frozenset[str]]
) -> Placement:
    shown = "unbounded" if wait == float("inf") else f"{wait:.1f} s"
    candidates = [h for h in hosts if d.model in h.installed and not h.is_loaded(d.model)]
    if not candidates:
        why = "no other healthy host has it installed and unloaded (or each placed one already)"
        return Placement(d.model, "", wait, f"predicted wait {shown}: {why}")
    roomy = [(room, h) for h in candidates if (room := _room_mb(h, d.model, busy)) is not None]
    if not roomy:
        names = ", ".join(h.name for h in candidates)
        why = f"no room on {names} without evicting a model in use"
        return Placement(d.model, "", wait, f"predicted wait {shown}: {why}")
    room, best = max(roomy, key=lambda x: (x[0], -x[1].running))
    return Placement(
        d.model,
        best.name,
        wait,
        f"predicted wait {shown} on {sum(h.is_loaded(d.model) for h in hosts)} copies: "
        f"pre-load on {best.name} ({room:.0f} MB free or idle)",
    )


def _room_mb(host: HostState, model: str, busy: Mapping[str, frozenset[str]]) -> float | None:
    """VRAM the model can use on ``host`` evicting only idle models; None when it cannot fit."""
    need = host.installed.get(model, 0.0)
    working = set(host.running_by_model) | set(busy.get(host.name, frozenset()))
    idle = [
        m
        for m in host.loaded
        if m.name not in working and host.running_by_model.get(m.name, 0) == 0
    ]
    if len(host.loaded) >= host.max_loaded_models and not idle:
        return None
    if host.vram_mb <= 0:
        return float(need)  # unknown VRAM: the slot count is the only bound we know
    free = host.vram_mb - sum(m.size_mb for m in host.loaded)
    room = free + sum(m.size_mb for m in idle)
    return room if room >= need else None


def demands_from(
    calls: Iterable[Mapping[str, object]], snapshot: FleetSnapshot, now: float, window_s: float
) -> list[ModelDemand]:
    """Demand per model from recently finished calls (the gateway's decision records: ``ts``,
    ``model``, ``actual_ms``, ``queue_wait_ms``) and the snapshot's running work. A host's queued
    messages are shared among the models running there (the queue does not say its models)."""
    recent: dict[str, list[tuple[float, float]]] = {}
    for c in calls:
        ts, model = float(c.get("ts") or 0), str(c.get("model") or "")  # type: ignore[arg-type]
        if model and now - ts <= window_s:
            total = float(c.get("actual_ms") or 0) / 1000  # type: ignore[arg-type]
            wait = float(c.get("queue_wait_ms") or 0) / 1000  # type: ignore[arg-type]
            recent.setdefault(model, []).append((max(0.0, total - wait), wait))
    running: dict[str, int] = {}
    waiting: dict[str, float] = {}
    for h in snapshot.hosts:
        on_host = sum(h.running_by_model.values())
        for m, n in h.running_by_model.items():
            running[m] = running.get(m, 0) + n
            if on_host:
                waiting[m] = waiting.get(m, 0.0) + h.queued_total * n / on_host
    out = []
    for model in sorted(set(recent) | set(running)):
        samples = recent.get(model, [])
        # the median: a call that waited for a cold load is not the model's service time
        service = sorted(s for s, _ in samples)[len(samples) // 2] if samples else 1.0
        observed = sum(w for _, w in samples) / len(samples) if samples else 0.0
        out.append(
            ModelDemand(
                model,
                arrival_rps=len(samples) / window_s,
                service_s=max(0.001, service),
                waiting=round(waiting.get(model, 0.0)),
                running=running.get(model, 0),
                observed_wait_s=observed,
            )
        )
    return out
