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

``oracle_blind`` knows all of that except how long answers will be: a request's output length
is the mean of its kind (model and task type, over the whole trace), and a running answer that
has produced ``g`` tokens is expected to produce the mean of what its kind produces beyond
``g``, given that it got that far. That is the most a gateway could know (it sees every
streamed token); where ``oracle`` meets a target and ``oracle_blind`` does not, the lead is
foresight of answer lengths, which no router has.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Collection, Sequence
from types import MappingProxyType

from _des import Job, Simulation
from _des_fleet import LOADED, Host

from sollol.router import Decision, FleetSnapshot, NoHostAvailable, RequestProfile
from sollol.sim import physics

__all__ = ["ORACLES", "Oracle"]

ORACLES = ("oracle", "oracle_ttft", "oracle_blind")


class _Lengths:
    """The output lengths of one kind of request, for expectations beyond a point."""

    def __init__(self, lengths: list[int]) -> None:
        self.sorted = sorted(lengths)
        self.suffix = [0.0] * (len(self.sorted) + 1)  # suffix[i] = sum(sorted[i:])
        for i in range(len(self.sorted) - 1, -1, -1):
            self.suffix[i] = self.suffix[i + 1] + self.sorted[i]
        self.mean = self.suffix[0] / max(1, len(self.sorted))

    def beyond(self, produced: float) -> float:
        """E[L - produced | L > produced]; 1 token if no answer of this kind got that far."""
        i = bisect.bisect_right(self.sorted, produced)
        n = len(self.sorted) - i
        return self.suffix[i] / n - produced if n else 1.0


class Oracle:
    """Routes by the true remaining work of the simulation ``sim`` (set after construction)."""

    def __init__(self, jobs: Sequence[Job], strategy: str) -> None:
        self.by_profile = {id(j.profile): j for j in jobs}
        self.ttft = strategy == "oracle_ttft"
        self.blind = strategy == "oracle_blind"
        self.strategy = strategy
        kinds: dict[tuple[str, str], list[int]] = {}
        for j in jobs:
            kinds.setdefault(self._kind(j), []).append(j.out_tokens)
        self.lengths = {k: _Lengths(v) for k, v in kinds.items()}
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

    @staticmethod
    def _kind(job: Job) -> tuple[str, str]:
        return job.profile.model, job.profile.task_type

    def _out(self, job: Job) -> float:
        """Output tokens of ``job`` as this oracle knows them: true, or its kind's mean."""
        return self.lengths[self._kind(job)].mean if self.blind else job.out_tokens

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
        return first, self._out(job) / physics.per_slot_tps(spec.gen_tps, k)

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
            return max(0.0, j.prompt_start + left - now) + self._out(j) / rate
        left = max(0.0, j.remaining - (now - j.t_last) * rate)
        if self.blind:
            left = self.lengths[self._kind(j)].beyond(j.out_tokens - left)
        return left / rate

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
