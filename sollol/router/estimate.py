"""Completion-time estimate of one request on one host, in seconds (the `performance` core)::

    predicted  = wait + load + prompt + generation
    wait       = max(0, ahead − slots + 1) / slots × service_mix
                 ahead = running + queued at priority ≥ p (Celery serves higher priorities first)
                 service_mix = typical service time of what the host is running now
    load       = 0 if the model is resident, else its load time (+ draining a busy victim)
    prompt     = prompt_tokens / (prompt_tps × k^(e−1))      k = the model's running requests + 1
    generation = output_tokens / (gen_tps × k^(e−1))          (≤ slots), e = CONCURRENCY_EXPONENT
    cost       = predicted + penalties (cold load, eviction): what the speed factor compares

Rates come from the host's learned :class:`ModelStats`; without a sample, from the median of
hosts of the same kind (GPU / CPU) that have one, else from conservative defaults in Tuning.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import median
from typing import NamedTuple

from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.tuning import CONCURRENCY_EXPONENT, DEFAULT_OUTPUT_TOKENS, Tuning

__all__ = ["DEFAULT_TUNING", "Estimator", "Prediction", "Rates", "expected_output_tokens",
           "is_cpu", "predict_duration_s"]

DEFAULT_TUNING = Tuning()
_SLOWDOWN = tuple(max(1, k) ** (CONCURRENCY_EXPONENT - 1.0) for k in range(65))
_MIX_OVERHEAD_S = 0.05  # per-request overhead in the service mix (HTTP, Celery, first token)


class Rates(NamedTuple):
    """Solo speeds of one model on one host."""

    prompt_tps: float
    gen_tps: float
    load_s: float


class Prediction(NamedTuple):
    """The parts of a completion-time estimate, in seconds."""

    wait_s: float
    load_s: float
    prompt_s: float
    gen_s: float
    penalty_s: float  # not time: the fleet's cost of a cold load or an eviction

    @property
    def total_s(self) -> float:
        return self.wait_s + self.load_s + self.prompt_s + self.gen_s

    @property
    def cost_s(self) -> float:
        return self.total_s + self.penalty_s


def is_cpu(host: HostState) -> bool:
    return "cpu" in host.tags


def slowdown(k: int) -> float:
    """Per-request speed factor when ``k`` requests share a model: k^(e−1), 1 when alone."""
    return _SLOWDOWN[k] if k < len(_SLOWDOWN) else float(k ** (CONCURRENCY_EXPONENT - 1.0))


def expected_output_tokens(profile: RequestProfile, snapshot: FleetSnapshot) -> float:
    """Tokens the request will generate: num_predict, else learned for (model, task), else the
    task type's default."""
    if profile.task_type == "embedding" or profile.endpoint in ("embed", "embeddings"):
        return 0.0
    if profile.output_tokens is not None:
        return float(profile.output_tokens)
    learned = snapshot.output_tokens.get((profile.model, profile.task_type))
    return learned if learned is not None else DEFAULT_OUTPUT_TOKENS.get(profile.task_type, 200.0)


def _looks_like_embedder(model: str) -> bool:
    return "embed" in model or "minilm" in model or model.startswith("bge")


class Estimator:
    """Predictions for one request against one snapshot; memoizes fleet medians and the typical
    service time of other models, so scoring N hosts stays O(N)."""

    __slots__ = ("_fleet", "_typical", "embedding", "out_tokens", "priority", "profile",
                 "snapshot", "tuning")

    def __init__(self, profile: RequestProfile, snapshot: FleetSnapshot,
                 tuning: Tuning = DEFAULT_TUNING) -> None:
        self.profile = profile
        self.snapshot = snapshot
        self.tuning = tuning
        self.priority = profile.priority
        self.embedding = profile.task_type == "embedding" or profile.endpoint in (
            "embed", "embeddings")
        self.out_tokens = expected_output_tokens(profile, snapshot)
        self._fleet: dict[tuple[str, bool], Rates] = {}
        self._typical: dict[str, float] = {}

    # --- rates ------------------------------------------------------------------------------------
    def rates(self, host: HostState, model: str, embedding: bool = False) -> Rates:
        """Learned solo rates of ``model`` on ``host``, with fleet-median / default fallbacks.
        ``load_s`` is 0 when unknown (see :meth:`load_s`)."""
        st = host.stats.get(model)
        if st is not None and st.prompt_tps and (st.gen_tps or embedding):
            return Rates(st.prompt_tps, st.gen_tps or 1.0, st.load_s or 0.0)
        fleet = self._fleet_rates(model, is_cpu(host), embedding)
        if st is None:
            return Rates(fleet.prompt_tps, fleet.gen_tps, 0.0)
        return Rates(st.prompt_tps or fleet.prompt_tps, st.gen_tps or fleet.gen_tps,
                     st.load_s or 0.0)

    def load_s(self, host: HostState, model: str, r: Rates) -> float:
        """Seconds to load ``model`` on ``host``: learned, else the fleet median, else from size."""
        if r.load_s:
            return r.load_s
        fleet = self._fleet_rates(model, is_cpu(host), self.embedding)
        return fleet.load_s or self._default_load_s(host, model)

    def _fleet_rates(self, model: str, cpu: bool, embedding: bool) -> Rates:
        key = (model, cpu)
        cached = self._fleet.get(key)
        if cached is None:
            cached = self._fleet[key] = self._median_rates(model, cpu, embedding)
        return cached

    def _median_rates(self, model: str, cpu: bool, embedding: bool) -> Rates:
        prompt: list[float] = []
        gen: list[float] = []
        load: list[float] = []
        for h in self.snapshot.hosts:
            st = h.stats.get(model)
            if st is None or is_cpu(h) != cpu:
                continue
            if st.prompt_tps:
                prompt.append(st.prompt_tps)
            if st.gen_tps:
                gen.append(st.gen_tps)
            if st.load_s:
                load.append(st.load_s)
        t = self.tuning
        if embedding:
            default_prompt = t.cpu_embed_tps if cpu else t.gpu_embed_tps
        else:
            default_prompt = t.cpu_prompt_tps if cpu else t.gpu_prompt_tps
        return Rates(median(prompt) if prompt else default_prompt,
                     median(gen) if gen else (t.cpu_gen_tps if cpu else t.gpu_gen_tps),
                     median(load) if load else 0.0)

    def _default_load_s(self, host: HostState, model: str) -> float:
        t = self.tuning
        base = t.load_base_s + host.installed.get(model, 2000.0) / 1000.0 * t.load_s_per_gb
        return base * 2.0 if is_cpu(host) else base

    # --- service times ------------------------------------------------------------------------
    def typical_service_s(self, host: HostState, model: str) -> float:
        """Seconds a typical request for ``model`` keeps a worker of ``host`` busy (resident,
        sharing the model with the host's running requests)."""
        out = self._typical_out(model)
        r = self.rates(host, model, out == 0.0)
        k = min(host.slots, host.running) or 1
        if out == 0.0:
            return _MIX_OVERHEAD_S + 200.0 / r.prompt_tps
        return _MIX_OVERHEAD_S + out / (r.gen_tps * slowdown(k))

    def _typical_out(self, model: str) -> float:
        cached = self._typical.get(model)
        if cached is None:
            seen = [v for (m, _), v in self.snapshot.output_tokens.items() if m == model]
            if seen:
                cached = sum(seen) / len(seen)
            elif model == self.profile.model:
                cached = self.out_tokens
            else:
                cached = 0.0 if _looks_like_embedder(model) else DEFAULT_OUTPUT_TOKENS["chat"]
            self._typical[model] = cached
        return cached

    def service_mix_s(self, host: HostState) -> float:
        """Mean service time of the requests running on ``host`` (this request's if none)."""
        by_model: Mapping[str, int] = host.running_by_model
        total = n = 0.0
        for model, count in by_model.items():
            if count > 0:
                total += count * self.typical_service_s(host, model)
                n += count
        return total / n if n else self.typical_service_s(host, self.profile.model)

    # --- the estimate -------------------------------------------------------------------------
    def predict(self, host: HostState) -> Prediction:
        """Predicted completion of this request on ``host`` (see the module docstring)."""
        model, slots = self.profile.model, max(1, host.slots)
        ahead = host.running + host.queued_at_or_above(self.priority)
        wait = 0.0
        if ahead >= slots:
            wait = (ahead - slots + 1) / slots * self.service_mix_s(host) * self.tuning.wait_factor
        r = self.rates(host, model, self.embedding)
        load = penalty = 0.0
        if not host.is_loaded(model):
            load, penalty = self._cold(host, model, r)
        k = min(host.running_by_model.get(model, 0) + 1, slots)
        speed = slowdown(k)
        prompt = self.profile.prompt_tokens / (r.prompt_tps * speed)
        gen = self.out_tokens / (r.gen_tps * speed) if self.out_tokens else 0.0
        if k > 1 and self.tuning.corunner_weight and not self.embedding:
            penalty += self._corunner_cost(host, model, k)
        return Prediction(wait, load, prompt, gen, penalty)

    def _corunner_cost(self, host: HostState, model: str, k: int) -> float:
        """Seconds the k−1 requests already sharing ``model`` lose when this one joins."""
        remaining = 0.5 * self.typical_service_s(host, model)
        return (self.tuning.corunner_weight * (k - 1) * remaining
                * (slowdown(k - 1) / slowdown(k) - 1.0))

    def _cold(self, host: HostState, model: str, r: Rates) -> tuple[float, float]:
        """(seconds to make ``model`` resident on ``host``, penalty) — evicting if it must."""
        t = self.tuning
        load = self.load_s(host, model, r)
        penalty = t.cold_penalty_s
        size = host.installed.get(model, 0.0)
        used = sum(m.size_mb for m in host.loaded)
        full = len(host.loaded) >= host.max_loaded_models or (
            host.vram_mb > 0 and used + size > host.vram_mb)
        if full:
            busy = host.running_by_model
            if any(busy.get(m.name, 0) == 0 for m in host.loaded):
                penalty += t.evict_idle_penalty_s
            else:  # Ollama waits for the victim's in-flight requests before loading
                load += self.service_mix_s(host)
                penalty += t.evict_busy_penalty_s
        return load, penalty


def predict_duration_s(profile: RequestProfile, host: HostState, snapshot: FleetSnapshot,
                       tuning: Tuning = DEFAULT_TUNING) -> float:
    """Predicted seconds from routing to the last token of ``profile`` on ``host``."""
    return Estimator(profile, snapshot, tuning).predict(host).total_s
