"""Completion-time estimate of one request on one host, in seconds (the `performance` core)::

    predicted  = wait + load + prompt + generation
    wait       = max(0, ahead − slots + 1) / slots × service_mix × wait_factor × first_free(slots)
                 ahead = running + queued at priority ≥ p (Celery serves higher priorities first)
                 service_mix = typical service time of what the host is running now
                 first_free = how much longer, per slot, the first running answer takes to end
                 on a host of few slots (see FIRST_FREE)
    load       = 0 if the model is resident, else its load time (+ draining a busy victim)
    prompt     = prompt_tokens / (prompt_tps × k^(e−1))      k = the model's running requests + 1
    generation = output_tokens / (gen_tps × k^(e−1))          (≤ slots), e = CONCURRENCY_EXPONENT
    cost       = predicted + penalties (a cold load into free room; a larger one for a load that
                 evicts, plus the idle victim's reload time there, or much more if every
                 resident model is busy; for a load that evicts, also its time × queued here
                 ÷ slots, since every message queued on the host waits for the worker that is
                 loading): what the speed factor compares

Rates come from the host's learned :class:`ModelStats`; without a sample, from the median of
the eligible hosts of the same kind (GPU / CPU) that have one, else from conservative defaults
in Tuning. Load times come from the host's own cold samples, else from the model's size.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import median
from typing import NamedTuple

from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.tuning import CONCURRENCY_EXPONENT, DEFAULT_OUTPUT_TOKENS, Tuning

__all__ = [
    "DEFAULT_TUNING",
    "FIRST_FREE",
    "Estimator",
    "Prediction",
    "Rates",
    "expected_output_tokens",
    "predict_duration_s",
    "slowdown",
]

DEFAULT_TUNING = Tuning()
_SLOWDOWN = tuple(max(1, k) ** (CONCURRENCY_EXPONENT - 1.0) for k in range(65))
_MIX_OVERHEAD_S = 0.05  # per-request overhead in the service mix (HTTP, Celery, first token)

# A request queued on a full host waits first for one of the ``s`` running answers to end. With
# heavy-tailed output lengths (log-normal, σ = 1) the answer found running is likely a long one
# (the inspection paradox): the time to the first end is E[min of s residual services] = 1.36,
# 0.54, 0.34, 0.245 mean services for s = 1, 2, 3, 4, i.e. 1.36, 1.08, 1.01, 0.98 per slot. The
# factors below are those per-slot times relative to 4 slots (Ollama's usual parallel setting,
# whose estimate stays as it was): a 1-slot host's queue is 1.39× longer than the plain
# (ahead − slots + 1) / slots count says. tests/router/test_estimate.py recomputes them.
FIRST_FREE = (1.0, 1.385, 1.099, 1.028)  # by slots; 1.0 from 4 slots on


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
    """Predictions for one request against one snapshot.

    ``peers`` (default: every host in the snapshot) are the hosts whose learned rates for the
    request's model give the median that stands in for a host without samples; the Router
    passes the eligible hosts. Every method is a pure function of (profile, snapshot, peers,
    tuning): the only state is a memo of fleet medians and typical output lengths, so
    estimating N hosts stays O(N) and no answer depends on which hosts were estimated
    before. Hot path: :meth:`lower_bound` and :meth:`parts` over the candidates.
    """

    __slots__ = (
        "_corunner",
        "_fleet",
        "_out",
        "_pi",
        "_prompt",
        "_typical",
        "_wait_factor",
        "embedding",
        "model",
        "out_tokens",
        "peers",
        "priority",
        "profile",
        "snapshot",
        "tuning",
    )

    def __init__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        tuning: Tuning = DEFAULT_TUNING,
        peers: Sequence[HostState] | None = None,
    ) -> None:
        self.profile = profile
        self.snapshot = snapshot
        self.tuning = tuning
        self.peers = snapshot.hosts if peers is None else peers
        self.model = profile.model
        self.priority = profile.priority
        self.embedding = profile.task_type == "embedding" or profile.endpoint in (
            "embed",
            "embeddings",
        )
        self.out_tokens = expected_output_tokens(profile, snapshot)
        self._pi = profile.priority - 1
        self._prompt = float(profile.prompt_tokens)
        self._out = self.out_tokens
        self._wait_factor = tuning.wait_factor
        self._corunner = tuning.corunner_weight if not self.embedding else 0.0
        self._fleet: dict[tuple[str, bool], Rates] = {}
        self._typical: dict[str, float] = {}

    # --- rates ------------------------------------------------------------------------------------
    def rates(self, host: HostState, model: str, embedding: bool = False) -> Rates:
        """Learned solo rates of ``model`` on ``host``, with fleet-median / default fallbacks.
        ``load_s`` is 0 when unknown (see :meth:`load_s`)."""
        st = host.stats.get(model)
        if st is not None and st.prompt_tps and (st.gen_tps or embedding):
            return Rates(st.prompt_tps, st.gen_tps or 1.0, st.load_s or 0.0)
        fleet = self._fleet_rates(model, "cpu" in host.tags, embedding)
        if st is None:
            return Rates(fleet.prompt_tps, fleet.gen_tps, 0.0)
        return Rates(
            st.prompt_tps or fleet.prompt_tps, st.gen_tps or fleet.gen_tps, st.load_s or 0.0
        )

    def load_s(self, host: HostState, model: str, learned: float) -> float:
        """Seconds to load ``model`` on ``host``: learned there, else estimated from its size.
        (Other hosts' load times say little: disks and PCIe links differ more than GPUs do.)"""
        return learned or self._default_load_s(host, model)

    def _fleet_rates(self, model: str, cpu: bool, embedding: bool) -> Rates:
        key = (model, cpu)
        cached = self._fleet.get(key)
        if cached is None:
            hosts = self.peers if model == self.model else self.snapshot.hosts
            cached = self._fleet[key] = self._median_rates(hosts, model, cpu, embedding)
        return cached

    def _median_rates(
        self, hosts: Sequence[HostState], model: str, cpu: bool, embedding: bool
    ) -> Rates:
        learned = [
            st for h in hosts if (st := h.stats.get(model)) is not None and ("cpu" in h.tags) == cpu
        ]
        prompt = [st.prompt_tps for st in learned if st.prompt_tps]
        gen = [st.gen_tps for st in learned if st.gen_tps]
        t = self.tuning
        if embedding:
            default_prompt = t.cpu_embed_tps if cpu else t.gpu_embed_tps
        else:
            default_prompt = t.cpu_prompt_tps if cpu else t.gpu_prompt_tps
        return Rates(
            median(prompt) if prompt else default_prompt,
            median(gen) if gen else (t.cpu_gen_tps if cpu else t.gpu_gen_tps),
            0.0,
        )

    def _default_load_s(self, host: HostState, model: str) -> float:
        t = self.tuning
        base = t.load_base_s + host.installed.get(model, 2000.0) / 1000.0 * t.load_s_per_gb
        return base * 2.0 if "cpu" in host.tags else base

    # --- service times ------------------------------------------------------------------------
    def typical_service_s(self, host: HostState, model: str) -> float:
        """Seconds a typical request for ``model`` keeps a worker of ``host`` busy (resident,
        sharing the model with the host's running requests)."""
        return self._typical_service(host, model, slowdown(min(host.slots, host.running) or 1))

    def _typical_service(self, host: HostState, model: str, speed: float) -> float:
        out = self._typical.get(model)
        if out is None:
            out = self._typical_out(model)
        st = host.stats.get(model)
        if out == 0.0:
            rate = (
                st.prompt_tps
                if st is not None and st.prompt_tps
                else self.rates(host, model, True).prompt_tps
            )
            return _MIX_OVERHEAD_S + 200.0 / rate
        rate = st.gen_tps if st is not None and st.gen_tps else self.rates(host, model).gen_tps
        return _MIX_OVERHEAD_S + out / (rate * speed)

    def _typical_out(self, model: str) -> float:
        cached = self._typical.get(model)
        if cached is None:
            seen = [v for (m, _), v in self.snapshot.output_tokens.items() if m == model]
            if seen:
                cached = sum(seen) / len(seen)
            elif model == self.model:
                cached = self.out_tokens
            else:
                cached = 0.0 if _looks_like_embedder(model) else DEFAULT_OUTPUT_TOKENS["chat"]
            self._typical[model] = cached
        return cached

    def service_mix_s(self, host: HostState) -> float:
        """Mean service time of the requests running on ``host`` (this request's if none)."""
        speed = slowdown(min(host.slots, host.running) or 1)
        total = n = 0.0
        for model, count in host.running_by_model.items():
            if count > 0:
                total += count * self._typical_service(host, model, speed)
                n += count
        return total / n if n else self._typical_service(host, self.model, speed)

    # --- the estimate -------------------------------------------------------------------------
    def predict(self, host: HostState) -> Prediction:
        """Predicted completion of this request on ``host`` (see the module docstring)."""
        return Prediction(*self.parts(host))

    def cost_s(self, host: HostState) -> float:
        """``predict(host).cost_s``, without building the Prediction (the routing hot path)."""
        wait, load, prompt, gen, penalty = self.parts(host)
        return wait + load + prompt + gen + penalty

    def lower_bound(self, host: HostState) -> float:
        """A cheap bound, ``≤ cost_s(host)`` always: the exact prompt and generation time, the
        queue wait at the smallest possible service time, and the cold penalty — without the
        service mix, load time, eviction and co-runner terms. Lets the Router skip hosts."""
        return self._bound(host)[0]

    def lower_bounds(self, hosts: Sequence[HostState]) -> tuple[list[float], dict[str, float]]:
        """(:meth:`lower_bound` of each host, each host's generation rate of the request's model
        in tokens/s by host name, as :meth:`rates` gives it): both in one pass over the fleet."""
        bounds: list[float] = []
        gens: dict[str, float] = {}
        for h in hosts:
            bound, gens[h.name] = self._bound(h)
            bounds.append(bound)
        return bounds, gens

    def _bound(self, host: HostState) -> tuple[float, float]:
        """(lower bound of the cost in s, the generation rate it assumed in tokens/s)."""
        model = self.model
        st = host.stats.get(model)
        if st is not None and st.prompt_tps and (st.gen_tps or self.embedding):
            prompt_tps, gen_tps = st.prompt_tps, st.gen_tps or 1.0
        else:
            prompt_tps, gen_tps, _ = self.rates(host, model, self.embedding)
        slots = host.slots if host.slots > 0 else 1
        n = host.running_by_model.get(model, 0)
        k = n + 1 if n < slots else slots
        speed = _SLOWDOWN[k] if k < len(_SLOWDOWN) else slowdown(k)
        t = self._prompt / (prompt_tps * speed) + (
            self._out / (gen_tps * speed) if self._out else 0.0
        )
        ahead = host.running + sum(host.queued[self._pi :])
        if ahead >= slots:
            t += (ahead - slots + 1) / slots * _MIX_OVERHEAD_S * self._wait_factor
        for m in host.loaded:
            if m.name == model:
                return t, gen_tps
        t_ = self.tuning
        return t + min(t_.cold_penalty_s, t_.cold_room_penalty_s), gen_tps

    def parts(self, host: HostState) -> tuple[float, float, float, float, float]:
        """(wait, load, prompt, generation, penalty) seconds of :meth:`predict`, as a plain
        tuple: it runs for every candidate host of every request, so it is kept flat."""
        model = self.model
        slots = host.slots if host.slots > 0 else 1
        ahead = host.running + sum(host.queued[self._pi :])
        wait = 0.0
        if ahead >= slots:
            wait = (ahead - slots + 1) / slots * self.service_mix_s(host) * self._wait_factor
            if slots < len(FIRST_FREE):
                wait *= FIRST_FREE[slots]
        st = host.stats.get(model)
        if st is not None and st.prompt_tps and (st.gen_tps or self.embedding):
            prompt_tps, gen_tps, learned_load = st.prompt_tps, st.gen_tps or 1.0, st.load_s or 0.0
        else:
            prompt_tps, gen_tps, learned_load = self.rates(host, model, self.embedding)
        n = host.running_by_model.get(model, 0)
        k = n + 1 if n < slots else slots
        speed = _SLOWDOWN[k] if k < len(_SLOWDOWN) else slowdown(k)
        prompt = self._prompt / (prompt_tps * speed)
        gen = self._out / (gen_tps * speed) if self._out else 0.0
        load = penalty = 0.0
        for m in host.loaded:
            if m.name == model:
                break
        else:
            load, penalty = self._cold(host, learned_load)
        if k > 1 and self._corunner:
            penalty += self._corunner_cost(host, prompt_tps, gen_tps, k)
        return wait, load, prompt, gen, penalty

    def _corunner_cost(self, host: HostState, prompt_tps: float, gen_tps: float, k: int) -> float:
        """Seconds the k−1 requests already sharing the model lose when this one joins."""
        out = self._typical.get(self.model)
        if out is None:
            out = self._typical_out(self.model)
        if out == 0.0:
            return 0.0
        typical = _MIX_OVERHEAD_S + out / (gen_tps * slowdown(min(host.slots, host.running) or 1))
        return self._corunner * (k - 1) * 0.5 * typical * (slowdown(k - 1) / slowdown(k) - 1.0)

    def _cold(self, host: HostState, learned_load: float) -> tuple[float, float]:
        """(seconds to make the model resident on ``host``, penalty) — evicting if it must."""
        t, model = self.tuning, self.model
        load = self.load_s(host, model, learned_load)
        penalty = t.cold_room_penalty_s
        used = sum(m.size_mb for m in host.loaded)
        if len(host.loaded) >= host.max_loaded_models or (
            host.vram_mb > 0 and used + host.installed.get(model, 0.0) > host.vram_mb
        ):
            penalty = t.cold_penalty_s
            busy = host.running_by_model
            idle = [m.name for m in host.loaded if not busy.get(m.name, 0)]
            if idle:  # the one that leaves is reloaded by its next request here
                penalty += max(self._reload_s(host, name) for name in idle)
            else:  # Ollama waits for the victim's in-flight requests before loading
                load += self.service_mix_s(host)
                penalty += t.evict_busy_penalty_s
            if host.queued_total:  # the load holds a worker that the messages queued here wait for
                penalty += load * host.queued_total / max(1, host.slots)
        return load, penalty

    def _reload_s(self, host: HostState, model: str) -> float:
        st = host.stats.get(model)
        return self.load_s(host, model, (st.load_s or 0.0) if st is not None else 0.0)


def predict_duration_s(
    profile: RequestProfile,
    host: HostState,
    snapshot: FleetSnapshot,
    tuning: Tuning = DEFAULT_TUNING,
) -> float:
    """Predicted seconds from routing to the last token of ``profile`` on ``host``."""
    return Estimator(profile, snapshot, tuning).predict(host).total_s
