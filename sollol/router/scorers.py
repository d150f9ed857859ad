"""Scorers: one factor each, every one a pure function returning a value in [0, 1] (1 = best).

They know nothing about weights; :mod:`sollol.router.strategies` combines them into one score
(a weighted geometric mean, see :class:`sollol.router.tuning.Weights`).
"""

from __future__ import annotations

from sollol.router.model import HostState, RequestProfile
from sollol.router.tuning import Tuning

__all__ = [
    "FACTORS",
    "gpu",
    "headroom",
    "health",
    "load",
    "priority",
    "specialization",
    "speed",
    "success",
]

FACTORS = ("speed", "success", "health", "gpu", "load", "priority", "specialization", "headroom")
GENERIC_TAGS = frozenset({"gpu", "cpu"})


def speed(best_cost_s: float, cost_s: float) -> float:
    """best_cost / cost: 1 for the host predicted to finish first, 0.5 for one twice as slow."""
    if cost_s <= 0.0:
        return 1.0
    return min(1.0, best_cost_s / cost_s)


def success(host: HostState, model: str) -> float:
    """Learned success rate of ``model`` on ``host`` (the host-wide rate before any sample)."""
    st = host.stats.get(model)
    rate = st.success_rate if st is not None and st.samples else host.success_rate
    return min(1.0, max(0.0, rate))


def health(host: HostState, tuning: Tuning) -> float:
    """1 healthy; ``degraded_factor`` degraded; × ``half_open_factor`` while the circuit probes."""
    value = tuning.degraded_factor if host.health == "degraded" else 1.0
    return value * tuning.half_open_factor if host.circuit == "half_open" else value


def gpu(profile: RequestProfile, host: HostState, tuning: Tuning) -> float:
    """``cpu_gpu_need_factor`` for a GPU-needing request on a CPU box, else 1."""
    return tuning.cpu_gpu_need_factor if profile.needs_gpu and "cpu" in host.tags else 1.0


def load(host: HostState) -> float:
    """1 / (1 + occupancy), occupancy = (running + queued) / slots: 1 idle, ½ full, ⅓ at 2× full."""
    return 1.0 / (1.0 + (host.running + host.queued_total) / max(1, host.slots))


def priority(profile: RequestProfile, host: HostState, relative_speed: float) -> float:
    """1 − ½ · (1 − u) · busy · relative_speed, u = (p − 1) / 9, busy = min(1, occupancy).

    Low priorities score a busy fast host lower so it stays free for high priorities; a
    priority-10 request (u = 1) and an idle host are never penalized.
    """
    urgency = (profile.priority - 1) / 9.0
    busy = min(1.0, (host.running + host.queued_total) / max(1, host.slots))
    return 1.0 - 0.5 * (1.0 - urgency) * busy * min(1.0, max(0.0, relative_speed))


def specialization(task_type: str, tags: frozenset[str]) -> float:
    """1 when the host is tagged with the task type ("code"); 0.9 for a generalist; 0.8 for a
    host specialized in something else (keep specialists free for their specialty)."""
    if task_type in tags:
        return 1.0
    return 0.8 if tags - GENERIC_TAGS else 0.9


def headroom(host: HostState, model: str) -> float:
    """1 if the model is resident; 0.5 + 0.5 · free_after / vram if it fits beside the others;
    0.2 if loading it would evict a model (CPU boxes: 0.5 when a model slot is free)."""
    if host.is_loaded(model):
        return 1.0
    if len(host.loaded) >= host.max_loaded_models:
        return 0.2
    if host.vram_mb <= 0:
        return 0.5
    free = host.vram_mb - sum(m.size_mb for m in host.loaded) - host.installed.get(model, 0.0)
    return 0.2 if free < 0 else 0.5 + 0.5 * free / host.vram_mb
