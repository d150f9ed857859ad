"""Scorers: one named factor each, a value in [0, 1] (1 = best) for one candidate host.

A scorer is any object with a ``name`` and ``__call__(ctx, host, cost_s) -> float``
(:class:`Scorer`); it knows nothing about weights. :class:`sollol.router.tuning.Weights` gives
each name its weight and :mod:`sollol.router.ranking` combines the values into one score, a
weighted geometric mean. ``ctx`` is what one decision knows about the fleet
(:class:`ScoringContext`), ``cost_s`` the host's predicted cost from the estimator.

Adding a factor: write a class here with its formula in the docstring, append an instance to
:data:`DEFAULT_SCORERS`, give its name a field in ``Weights``. Decisions then report it in
``Decision.factors`` and the reasoning can name it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from sollol.router.estimate import Estimator
from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.prefix import ContextMatch, PrefixMatch
from sollol.router.tuning import Tuning

__all__ = [
    "DEFAULT_SCORERS",
    "GENERIC_TAGS",
    "Gpu",
    "Headroom",
    "Health",
    "Load",
    "Priority",
    "Scorer",
    "ScoringContext",
    "Specialization",
    "Speed",
    "Success",
]

GENERIC_TAGS = frozenset({"gpu", "cpu"})


@dataclass(frozen=True, slots=True)
class ScoringContext:
    """What every scorer of one decision may read; built once, before any host is scored."""

    profile: RequestProfile
    snapshot: FleetSnapshot
    tuning: Tuning
    est: Estimator
    best_cost_s: float  # the lowest predicted cost among the candidates, s
    fastest_gen_tps: float  # the fastest candidate's generation rate for the model, tokens/s
    # each candidate's generation rate for the model by host name (Estimator.rates), tokens/s
    gen_tps: Mapping[str, float] = field(default_factory=dict)


class Scorer(Protocol):
    """One factor of the score: ``name`` reports it, the call returns a value in [0, 1]."""

    name: str

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float: ...


class Speed:
    """best_cost / cost: 1 for the host predicted to finish first, 0.5 for one twice as slow."""

    name = "speed"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        return 1.0 if cost_s <= 0.0 else min(1.0, ctx.best_cost_s / cost_s)


def relative_speed(best_cost_s: float, cost_s: float) -> float:
    """min(1, best / cost); 1 for a zero cost (the speed factor, also the ranking's bound)."""
    return 1.0 if cost_s <= 0.0 else min(1.0, best_cost_s / cost_s)


class Success:
    """Learned success rate of the model on the host (the host-wide rate before any sample)."""

    name = "success"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        st = host.stats.get(ctx.profile.model)
        rate = st.success_rate if st is not None and st.samples else host.success_rate
        return min(1.0, max(0.0, rate))


class Health:
    """1 healthy; ``degraded_factor`` degraded; × ``half_open_factor`` while the circuit probes."""

    name = "health"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        t = ctx.tuning
        value = t.degraded_factor if host.health == "degraded" else 1.0
        return value * t.half_open_factor if host.circuit == "half_open" else value


class Gpu:
    """``cpu_gpu_need_factor`` for a GPU-needing request on a CPU box, else 1."""

    name = "gpu"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        if ctx.profile.needs_gpu and "cpu" in host.tags:
            return ctx.tuning.cpu_gpu_need_factor
        return 1.0


class Load:
    """1 / (1 + occupancy), occupancy = (running + queued) / slots: 1 idle, ½ full, ⅓ at 2× full."""

    name = "load"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        return 1.0 / (1.0 + (host.running + host.queued_total) / max(1, host.slots))


class Priority:
    """1 − ½ · (1 − u) · busy · r, u = (p − 1) / 9, busy = min(1, occupancy),
    r = the host's generation rate ÷ the fastest candidate's (in [0, 1]).

    Low priorities score a busy fast host lower so it stays free for high priorities; a
    priority-10 request (u = 1) and an idle host are never penalized.
    """

    name = "priority"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        gen = ctx.gen_tps.get(host.name)
        if gen is None:
            gen = ctx.est.rates(host, ctx.profile.model, ctx.est.embedding).gen_tps
        r = gen / ctx.fastest_gen_tps if ctx.fastest_gen_tps > 0.0 else 1.0
        urgency = (ctx.profile.priority - 1) / 9.0
        busy = min(1.0, (host.running + host.queued_total) / max(1, host.slots))
        return 1.0 - 0.5 * (1.0 - urgency) * busy * min(1.0, max(0.0, r))


class Specialization:
    """1 when the host is tagged with the task type ("code"); 0.9 for a generalist; 0.8 for a
    host specialized in something else (keep specialists free for their specialty)."""

    name = "specialization"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        if ctx.profile.task_type in host.tags:
            return 1.0
        return 0.8 if host.tags - GENERIC_TAGS else 0.9


class Headroom:
    """1 if the model is resident; 0.5 + 0.5 · free_after / vram if it fits beside the others;
    0.2 if loading it would evict a model (CPU boxes: 0.5 when a model slot is free)."""

    name = "headroom"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        model = ctx.profile.model
        if host.is_loaded(model):
            return 1.0
        if len(host.loaded) >= host.max_loaded_models:
            return 0.2
        if host.vram_mb <= 0:
            return 0.5
        used = sum(m.size_mb for m in host.loaded)
        free = host.vram_mb - used - host.installed.get(model, 0.0)
        return 0.2 if free < 0 else 0.5 + 0.5 * free / host.vram_mb


# The factors of the `performance` score, in the order decisions report them.
DEFAULT_SCORERS: tuple[Scorer, ...] = (
    Speed(),
    Success(),
    Health(),
    Gpu(),
    Load(),
    Priority(),
    Specialization(),
    Headroom(),
    ContextMatch(),
    PrefixMatch(),
)
