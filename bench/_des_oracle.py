"""A clairvoyant router for bench/policy.py (``--strategies ...,oracle``): a yardstick, not a
strategy the gateway could run.

It reads the discrete-event model's own state, not a snapshot: every request's TRUE output
length, how far each running request has got, what each slot's prompt cache holds, every
message queued at each host. For each host that has the model installed it replays the host's
queue (workers taking messages by priority, then arrival) with the exact remaining work of
everything ahead at the current rates, and picks the host where this request would finish first
(``oracle``) or see its first token first (``oracle_ttft``). It ignores only the future: later
arrivals, and the slowdown its own request causes to those already running. Where it does no
better than least_connections, no router that lacks its knowledge can.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Sequence
from types import MappingProxyType

from _des import Job, Simulation
from _des_fleet import LOADED, Host

from sollol.router import Decision, FleetSnapshot, NoHostAvailable, RequestProfile
from sollol.sim import physics

__all__ = ["ORACLES", "Oracle"]

ORACLES = ("oracle", "oracle_ttft")


class Oracle:
    """Routes by the true remaining work of the simulation ``sim`` (set after construction)."""

    def __init__(self, jobs: Sequence[Job], strategy: str) -> None:
        self.by_profile = {id(j.profile): j for j in jobs}
        self.ttft = strategy == "oracle_ttft"
        self.strategy = strategy
        self.sim: Simulation | None = None
        self.inflight: dict[str, list[Job]] = {}

    def route(
        self, profile: RequestProfile, snapshot: FleetSnapshot, exclude: Collection[str] = ()
    ) -> Decision:
        assert self.sim is not None
        job = self.by_profile[id(profile)]
        best, best_t = "", float("inf")
        for host in self.sim.hosts:
            if profile.model not in host.spec.models or host.name in exclude:
                continue
            t = self._finish(host, job)
            if t < best_t:
                best, best_t = host.name, t
        if not best:
            raise NoHostAvailable(f"no host has {profile.model}")
        self.inflight.setdefault(best, []).append(job)
        return Decision(
            host=best,
            score=1.0,
            strategy=self.strategy,
            predicted_ms=best_t * 1000.0,
            factors=MappingProxyType({}),
        )

    def _service(self, host: Host, job: Job, cached: int = 0) -> tuple[float, float]:
        """(seconds to the first token, seconds after it) of ``job`` on ``host`` from a slot."""
        spec = host.spec.models[job.profile.model]
        runner = host.runners.get(spec.name)
        k = min(host.spec.num_parallel, (runner.active if runner else 0) + 1)
        load = 0.0 if runner is not None and runner.state == LOADED else spec.load_s
        if job.embed:
            return load + job.profile.prompt_tokens / max(spec.embed_tps, 1e-9), 0.0
        first = load + physics.prompt_eval_seconds(
            job.profile.prompt_tokens - cached, spec.prompt_tps, k
        )
        return first, job.out_tokens / physics.per_slot_tps(spec.gen_tps, k)

    def _remaining(self, host: Host, j: Job, now: float) -> float:
        """Seconds until the running request ``j`` frees its worker."""
        runner = host.runners.get(j.profile.model)
        if runner is None or j.prompt_start < 0:
            a, b = self._service(host, j)
            return a + b
        rate = physics.per_slot_tps(runner.spec.gen_tps, max(1, runner.active))
        if j.first < 0:  # evaluating its prompt
            left = physics.prompt_eval_seconds(
                j.profile.prompt_tokens - j.cached, runner.spec.prompt_tps, max(1, runner.active)
            )
            return max(0.0, j.prompt_start + left - now) + j.out_tokens / rate
        return max(0.0, j.remaining - (now - j.t_last) * rate) / rate

    def _cached(self, host: Host, job: Job) -> int:
        runner = host.runners.get(job.profile.model)
        if runner is None or not job.profile.prefix_blocks or job.embed:
            return 0
        blocks, key = job.profile.prefix_blocks, job.continues
        contents = list(runner.caches.contents) + list(runner.caches.ram)
        best = max((c.shared_tokens(blocks, key) for c in contents), default=0)
        return min(best, max(0, job.profile.prompt_tokens - 1))

    def _finish(self, host: Host, job: Job) -> float:
        """Seconds from now until ``job`` would finish (or see its first token) on ``host``."""
        assert self.sim is not None
        now = self.sim.now
        live = [j for j in self.inflight.get(host.name, []) if j.done < 0]
        self.inflight[host.name] = live
        started = [j for j in live if j.start >= 0]
        free = [self._remaining(host, j, now) for j in started]
        free += [0.0] * max(0, host.spec.num_parallel - len(free))
        heapq.heapify(free)
        p = job.profile.priority
        ahead = [j for q in reversed(host.queues[p - 1 :]) for j in q]
        for q in ahead:
            t = heapq.heappop(free)
            a, b = self._service(host, q)
            heapq.heappush(free, t + a + b)
        start = heapq.heappop(free)
        first, rest = self._service(host, job, self._cached(host, job))
        return start + first if self.ttft else start + first + rest
