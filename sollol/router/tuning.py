"""The router's knobs in one place: factor weights and the estimator's constants, with units.

Scorers never read the weights; :mod:`sollol.router.ranking` combines the factors with
:class:`Weights`, and the estimator, filters, scorers and pickers read :class:`Tuning`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from types import MappingProxyType

__all__ = [
    "CONCURRENCY_EXPONENT",
    "DEFAULT_OUTPUT_TOKENS",
    "SECONDS",
    "TOKEN_RATES",
    "Tuning",
    "Weights",
]

# Same value as sollol.sim.physics.CONCURRENCY_EXPONENT (a test pins them together): k requests
# sharing a model each run at solo_rate × k^(exponent - 1).
CONCURRENCY_EXPONENT = 0.7

# Typical generated tokens per task type before any has been learned (snapshot.output_tokens).
DEFAULT_OUTPUT_TOKENS = MappingProxyType(
    {
        "generation": 200.0,
        "chat": 200.0,
        "classification": 20.0,
        "extraction": 150.0,
        "summarization": 150.0,
        "analysis": 300.0,
        "code": 300.0,
        "embedding": 0.0,
    }
)


@dataclass(frozen=True, slots=True)
class Weights:
    """Weight of each factor, by the scorer's name, in the weighted geometric mean of the score.

    score = Π factor_i ^ (w_i / Σw), over the router's scorers: in [0, 1], 1 only when every
    factor is 1, and a factor of 0 vetoes the host. Predicted completion time dominates; the rest
    break near-ties and express preferences an estimate of time cannot (health, specialization,
    keeping fast hosts free). The field order means nothing: scorers look their weight up by name.
    """

    speed: float = 0.60  # best predicted cost / this host's predicted cost
    success: float = 0.10  # learned success rate
    health: float = 0.10  # degraded / half-open circuit
    gpu: float = 0.05  # GPU-needing request on a CPU box
    load: float = 0.05  # occupancy: the tie-breaker between equally fast hosts
    priority: float = 0.04  # low priorities leave busy fast hosts to high priorities
    specialization: float = 0.03  # host tags matching the task type ("code")
    headroom: float = 0.03  # memory left for the model without evicting another
    context: float = 0.05  # the loaded instance runs the request's num_ctx (else a reload)
    prefix: float = 0.0  # reported only: the performance picker prices the cache in seconds

    def __post_init__(self) -> None:
        values = [getattr(self, f.name) for f in fields(self)]
        if any(v < 0 for v in values) or sum(values) <= 0:
            raise ValueError(f"weights must be ≥ 0 with a positive sum, got {values}")

    def weight(self, name: str) -> float:
        """The weight of the factor called ``name``; ValueError when there is no such field."""
        if name not in self.__dataclass_fields__:
            known = ", ".join(f.name for f in fields(self))
            raise ValueError(f"no weight for factor {name!r}; weights exist for {known}")
        value: float = getattr(self, name)
        return value

    def shares(self, names: Sequence[str]) -> tuple[float, ...]:
        """w_name / Σ w over ``names``, in the order given: the exponents of the geometric mean."""
        values = [self.weight(n) for n in names]
        total = sum(values)
        if total <= 0:
            raise ValueError(f"the weights of {', '.join(names)} sum to 0")
        return tuple(v / total for v in values)


# Tuning's fields measured in seconds (or seconds per GB) of the fleet's clock, and in tokens per
# second of it: what Tuning.scaled converts when the fleet's clock is not the wall clock.
SECONDS = (
    "load_s_per_gb",
    "load_base_s",
    "cold_penalty_s",
    "cold_room_penalty_s",
    "evict_busy_penalty_s",
)
TOKEN_RATES = (
    "gpu_prompt_tps",
    "gpu_gen_tps",
    "gpu_embed_tps",
    "cpu_prompt_tps",
    "cpu_gen_tps",
    "cpu_embed_tps",
)


@dataclass(frozen=True, slots=True)
class Tuning:
    """Constants of the completion-time estimate and of the routing rules (seconds unless noted)."""

    # Rates before a host has a sample and no host of its kind has one either (conservative).
    gpu_prompt_tps: float = 1000.0
    gpu_gen_tps: float = 40.0
    gpu_embed_tps: float = 4000.0
    cpu_prompt_tps: float = 100.0
    cpu_gen_tps: float = 8.0
    cpu_embed_tps: float = 500.0
    load_s_per_gb: float = 1.0  # default load time: load_base_s + size × this (CPU boxes × 2)
    load_base_s: float = 1.0
    # Queue waits run longer than (ahead − slots + 1) / slots mean services: outputs are
    # heavy-tailed (log-normal σ = 1: mean residual service E[S²] / 2E[S] ≈ 1.36 E[S]) and higher
    # priorities keep arriving while a request waits. Calibrated in bench/policy.py's simulation.
    wait_factor: float = 1.5
    # Joining k−1 requests on a model slows each of them by (k / (k−1))^(1−e): that time, summed
    # over co-runners (half a typical service left each), is charged to the newcomer's cost.
    corunner_weight: float = 1.0
    # Costs that are not this request's time but the fleet's: a cold load churns residency, an
    # eviction throws away a model others may want next (busy: they wait for it to drain, too).
    # A load into free room (no model leaves) costs the fleet little and serves every later
    # request there: a fast box holding only an embedder was never given the chat model at 6 s.
    # An idle model sent away costs its next request here a reload: its load time on this host
    # (the longest of the idle ones: Ollama, not the router, picks which leaves). A flat 10 s
    # instead kept a 4-slot GPU that can hold 3 of its 4 models from ever taking the 4th, whose
    # requests went to a CPU box 4x slower (bench/RESULTS.md §9, random fleet 9).
    cold_penalty_s: float = 3.0  # a load that evicts (plus the idle victim's reload, or below)
    cold_room_penalty_s: float = 1.0  # a load that fits beside the resident models
    evict_busy_penalty_s: float = 45.0  # every resident model is busy: they drain first
    # Session affinity / the prompt cache holds while (running + queued at ≥ p) / slots on the
    # host stays below this.
    affinity_cap: float = 1.0
    # performance: route by the gateway's record of dispatched prompt prefixes
    # (sollol.router.prefix); False = plain session affinity (the previous turn's host).
    prefix_routing: bool = True
    context_mismatch_factor: float = 0.3  # context factor of a host that would reload for num_ctx
    # A cached prefix saves its evaluation twice: this request's time, and the host's compute that
    # co-running requests would otherwise share (the corunner charge's counterpart).
    prefix_saving_weight: float = 4.0
    # Share of decisions in which a half-open host is eligible at all (it is penalized when it is).
    half_open_share: float = 0.1
    degraded_factor: float = 0.25  # health factor of a degraded host
    half_open_factor: float = 0.3  # health factor of a half-open circuit (multiplies the above)
    cpu_gpu_need_factor: float = 0.2  # gpu factor of a CPU box for a GPU-needing request

    def scaled(self, time_scale: float) -> Tuning:
        """This tuning for a fleet whose every delay is ``time_scale`` × the real one (a simulator
        run at ``--time-scale 0.25`` does in 1 wall second what real GPUs do in 4): the
        :data:`SECONDS` constants × time_scale, the default :data:`TOKEN_RATES` ÷ it. Learned
        rates and load times need nothing: they are measured on the fleet itself. 1.0 → self."""
        if not time_scale > 0.0:
            raise ValueError(f"time_scale must be > 0, got {time_scale}")
        if time_scale == 1.0:
            return self
        changes = {name: getattr(self, name) * time_scale for name in SECONDS}
        changes.update({name: getattr(self, name) / time_scale for name in TOKEN_RATES})
        return replace(self, **changes)
