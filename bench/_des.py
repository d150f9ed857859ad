"""Discrete-event model of a SOLLOL fleet (virtual time, heapq), for bench/policy.py.

What it models, and from where:

- per host, a Celery queue with 10 priority levels (highest first, FIFO within a level) and
  ``num_parallel`` worker processes (``worker_prefetch_multiplier = 1``: a worker takes the next
  message only when it is free);
- per node, Ollama's residency as ``sollol.sim.scheduler`` implements it: a request for a resident
  model skips the scheduler; any other waits in ONE pending queue served in order, one load at a
  time; placement evicts an idle runner first (else the shortest keep-alive, waiting for its
  requests to drain) while ``max_loaded_models`` is reached or memory would overflow; idle
  runners unload after ``keep_alive_s``;
- per runner, ``num_parallel`` slots (1 for embedding models) with FIFO waiting; prompt evaluation
  at ``physics.prompt_eval_seconds(tokens, prompt_tps, active)`` and generation as processor
  sharing at ``physics.per_slot_tps(gen_tps, active)``, re-evaluated whenever ``active`` changes
  (the live simulator re-reads ``active`` before every batch of tokens);
- per runner, each slot's prompt cache (bench/_des_cache.py, as the live simulator keeps it): a
  request evaluates only the prompt tokens its slot does not already hold, at least one, and
  reports that count as Ollama does (a conversation's next turn reuses its previous prompt and
  answer to the token); a load starts with empty caches;
- learning as the workers do it: each finished request becomes a ``TimingSample`` folded in with
  ``update_stats`` (embeddings report only their wall time, as the worker does) and its output
  length with ``update_output_tokens``; the router sees them in the next snapshot.

The router gets a ``FleetSnapshot`` built from this state the way the gateway builds it: the
fields it reads from Redis (queued per priority, running per model, resident models, learned
stats), re-read every ``cache_s`` (the FleetCache period, 250 ms by default) with the dispatches
made since added as local deltas, and resident models as of each worker's last heartbeat
(every ``heartbeat_s``, 2 s by default). ``cache_s = heartbeat_s = 0`` gives an exact view. The
gateway's own records are always current: the prompts it dispatched per host
(``sollol.router.prefix.PrefixRecord``, forgotten for a model the heartbeat no longer shows) and
each conversation's last host (session affinity).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Callable, Sequence
from types import MappingProxyType

from _des_fleet import LOADED, LOADING, UNLOADING, Host, Job, Runner

from sollol.router import (
    PRIORITY_LEVELS,
    FleetSnapshot,
    NoHostAvailable,
    Router,
    TimingSample,
    update_output_tokens,
    update_stats,
)
from sollol.router.prefix import PrefixRecord
from sollol.sim import physics
from sollol.sim.profile import FleetProfile, ModelSpec

__all__ = ["Job", "Simulation"]

EWMA_ALPHA = 0.2  # SOLLOLConfig.ewma_alpha's default
_PROMPT_DONE, _GEN_DONE, _LOAD_DONE, _EXPIRE = 0, 1, 2, 3


class Simulation:
    """Runs one arrival trace through one router over one fleet profile."""

    def __init__(
        self,
        profile: FleetProfile,
        router: Router,
        *,
        learn_active: bool = False,
        cache_s: float = 0.25,
        heartbeat_s: float = 2.0,
        on_decision: Callable[[Job, str], None] | None = None,
    ) -> None:
        self.hosts = [Host(n) for n in profile.nodes]
        for i, h in enumerate(self.hosts):  # heartbeats are not synchronized across hosts
            h.heartbeat(0.0, 0.0)
            h.next_heartbeat = heartbeat_s * (i + 1) / len(self.hosts)
        self.cache_s, self.heartbeat_s = cache_s, heartbeat_s
        self._base: FleetSnapshot | None = None
        self._base_at = 0.0
        self._deltas: dict[str, list[int]] = {}
        self.by_name = {h.name: h for h in self.hosts}
        self.router = router
        self.learn_active = learn_active
        self.on_decision = on_decision
        self.now = 0.0
        self._heap: list[tuple[float, int, int, object, int]] = []
        self._seq = 0
        self.output_tokens: dict[tuple[str, str], float] = {}
        self._outtok_view: MappingProxyType[tuple[str, str], float] = MappingProxyType({})
        self.unroutable = 0
        self.prefixes = {h.name: PrefixRecord() for h in self.hosts}
        self.affinity: dict[str, str] = {}
        self._gateway_views = (MappingProxyType(self.prefixes), MappingProxyType(self.affinity))

    # --- the event loop -----------------------------------------------------------------------
    def run(self, jobs: Sequence[Job]) -> None:
        """Feed ``jobs`` (sorted by arrival) and run until every one has finished."""
        heap, i, n = self._heap, 0, len(jobs)
        while i < n or heap:
            if i < n and (not heap or jobs[i].arrival <= heap[0][0]):
                self.now = jobs[i].arrival
                self._arrive(jobs[i])
                i += 1
                continue
            t, _, kind, obj, version = heapq.heappop(heap)
            self.now = t
            self._event(kind, obj, version)

    def _push(self, t: float, kind: int, obj: object, version: int = 0) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, kind, obj, version))

    def _event(self, kind: int, obj: object, version: int) -> None:
        if kind == _PROMPT_DONE:
            assert isinstance(obj, Job)
            self._prompt_done(obj)
        elif kind == _GEN_DONE:
            assert isinstance(obj, Job)
            if obj.version == version:
                self._finish(obj)
        elif kind == _LOAD_DONE:
            assert isinstance(obj, tuple)
            host, runner = obj
            runner.state = LOADED
            host.sched_busy = False
            host.changed()
            self._pump(host)
        else:
            assert isinstance(obj, tuple)
            host, runner = obj
            if (
                runner.expire_version == version
                and runner.refs == 0
                and (host.runners.get(runner.spec.name) is runner)
            ):
                host.counters.expirations += 1
                self._remove(host, runner)

    # --- routing and the Celery side ----------------------------------------------------------
    def snapshot(self) -> FleetSnapshot:
        """What the gateway's FleetCache hands the router: a read at most ``cache_s`` old, plus
        the dispatches made since that read (its local deltas)."""
        now = self.now
        if self._base is None or now - self._base_at >= self.cache_s:
            for h in self.hosts:
                h.heartbeat(now, self.heartbeat_s)
                self._forget_unloaded(h)
            self._base = FleetSnapshot(
                hosts=tuple(h.state(now) for h in self.hosts),
                now=now,
                output_tokens=self._outtok_view,
                prefixes=self._gateway_views[0],
                affinity=self._gateway_views[1],
            )
            self._base_at = now
            self._deltas.clear()
        if not self._deltas:
            return self._base
        return dataclasses.replace(
            self._base,
            hosts=tuple(
                dataclasses.replace(
                    h, queued=tuple(q + d for q, d in zip(h.queued, extra, strict=True))
                )
                if (extra := self._deltas.get(h.name))
                else h
                for h in self._base.hosts
            ),
        )

    def _forget_unloaded(self, host: Host) -> None:
        record = self.prefixes[host.name]
        loaded = {m.name for m in host.loaded_view}
        for model in record.models():
            if model not in loaded:
                record.forget(model)

    def _arrive(self, job: Job) -> None:
        try:
            decision = self.router.route(job.profile, self.snapshot())
        except NoHostAvailable:
            self.unroutable += 1
            return
        self._place(job, self.by_name[decision.host])

    def _place(self, job: Job, host: Host) -> None:
        """What becomes of ``job`` once the router chose ``host``: it is bound there."""
        self._bind(job, host)

    def _bind(self, job: Job, host: Host) -> None:
        """Publish ``job`` to ``host``'s queue, as the gateway records a dispatch."""
        job.host = host.name
        p = job.profile
        if p.prefix_blocks:
            self.prefixes[host.name].record(p.model, p.prefix_blocks, host.spec.num_parallel)
        if p.session_key:
            self.affinity[p.session_key] = host.name
        if self.cache_s > 0:
            self._deltas.setdefault(host.name, [0] * PRIORITY_LEVELS)[p.priority - 1] += 1
        if self.on_decision is not None:
            self.on_decision(job, host.name)
        host.queues[p.priority - 1].append(job)
        host.changed()
        self._dispatch(host)

    def _dispatch(self, host: Host) -> None:
        """Free workers take the highest-priority message, FIFO within a priority."""
        while host.busy < host.spec.num_parallel:
            job = next((q.popleft() for q in reversed(host.queues) if q), None)
            if job is None:
                return
            host.busy += 1
            m = job.profile.model
            host.running_by_model[m] = host.running_by_model.get(m, 0) + 1
            host.changed()
            job.start = self.now
            runner = host.runners.get(m)
            if runner is not None and runner.state == LOADED:
                self._take(host, runner, job)
            else:
                job.cold = True
                host.pending.append(job)
                self._pump(host)

    # --- Ollama's scheduler -------------------------------------------------------------------
    def _pump(self, host: Host) -> None:
        """Place pending requests in order, one load at a time (Ollama's processPending)."""
        while host.pending and not host.sched_busy:
            job = host.pending[0]
            spec = host.spec.models[job.profile.model]
            runner = host.runners.get(spec.name)
            if runner is not None and runner.state == LOADED:
                host.pending.popleft()
                self._take(host, runner, job)
            elif runner is not None:  # unloading: wait for it to drain, then load it again
                self._drain(host, runner)
            elif self._fits(host, spec):
                self._load(host, spec)
            else:
                self._evict_one(host)

    def _fits(self, host: Host, spec: ModelSpec) -> bool:
        used = sum(r.spec.size_mb for r in host.runners.values())
        return (
            len(host.runners) < host.spec.max_loaded_models and used + spec.size_mb <= host.budget
        )

    def _load(self, host: Host, spec: ModelSpec) -> None:
        runner = Runner(spec, host.spec.num_parallel, LOADING)
        host.runners[spec.name] = runner
        host.sched_busy = True
        host.counters.loads += 1
        self._push(self.now + spec.load_s, _LOAD_DONE, (host, runner))

    def _evict_one(self, host: Host) -> None:
        """findRunnerToUnload: by (keep-alive, name), the first idle one, else the first."""
        ranked = sorted(host.runners.values(), key=lambda r: r.spec.name)
        victim = next((r for r in ranked if r.refs == 0), ranked[0])
        host.counters.evictions += 1
        if victim.refs == 0:
            self._remove(host, victim)
        else:
            self._drain(host, victim)

    def _drain(self, host: Host, runner: Runner) -> None:
        runner.state = UNLOADING
        host.sched_busy = True
        host.draining = runner
        host.changed()

    def _remove(self, host: Host, runner: Runner) -> None:
        if host.runners.get(runner.spec.name) is runner:
            del host.runners[runner.spec.name]
            host.changed()
        if host.draining is runner:
            host.draining = None
            host.sched_busy = False
            self._pump(host)

    # --- a request on a runner ----------------------------------------------------------------
    def _take(self, host: Host, runner: Runner, job: Job) -> None:
        runner.refs += 1
        runner.expire_version += 1  # cancels a pending keep-alive expiry
        job.runner_at = self.now
        if runner.active < runner.capacity and not runner.waiters:
            self._grab_slot(host, runner, job)
        else:
            runner.waiters.append(job)

    def _grab_slot(self, host: Host, runner: Runner, job: Job) -> None:
        self._settle(runner)
        runner.active += 1
        self._reschedule(runner)
        spec = runner.spec
        rate = spec.embed_tps if spec.is_embedding else spec.prompt_tps
        job.prompt_start = self.now
        tokens = job.profile.prompt_tokens
        if job.profile.prefix_blocks and not job.embed:
            job.slot, shared = runner.caches.claim(job.profile.prefix_blocks, job.continues)
            job.cached = min(shared, max(0, tokens - 1))
        seconds = physics.prompt_eval_seconds(tokens - job.cached, rate, runner.active)
        self._push(self.now + seconds, _PROMPT_DONE, job)

    def _prompt_done(self, job: Job) -> None:
        job.first = self.now
        if job.embed or job.out_tokens <= 0:
            self._finish(job)
            return
        runner = self.by_name[job.host].runners[job.profile.model]
        self._settle(runner)
        job.remaining = float(job.out_tokens)
        job.t_last = job.gen_start = self.now
        runner.gens.append(job)
        self._reschedule(runner)

    def _settle(self, runner: Runner) -> None:
        """Advance every generating request to now at the rate in force since its last update."""
        if not runner.gens:
            return
        rate = physics.per_slot_tps(runner.spec.gen_tps, runner.active)
        now = self.now
        for g in runner.gens:
            g.remaining -= (now - g.t_last) * rate
            g.t_last = now

    def _reschedule(self, runner: Runner) -> None:
        if not runner.gens:
            return
        rate = physics.per_slot_tps(runner.spec.gen_tps, runner.active)
        for g in runner.gens:
            g.version += 1
            self._push(self.now + max(0.0, g.remaining) / rate, _GEN_DONE, g, g.version)

    def _finish(self, job: Job) -> None:
        host = self.by_name[job.host]
        runner = host.runners[job.profile.model]
        job.done = self.now
        active_then = runner.active
        self._settle(runner)
        if job in runner.gens:
            runner.gens.remove(job)
        if job.slot >= 0:
            runner.caches.store(job.slot, job.after)
        runner.active -= 1
        if runner.waiters:
            self._grab_slot(host, runner, runner.waiters.popleft())
        else:
            self._reschedule(runner)
        self._release(host, runner)
        host.busy -= 1
        host.running_by_model[job.profile.model] -= 1
        host.changed()
        self._learn(host, job, active_then)
        self._dispatch(host)

    def _release(self, host: Host, runner: Runner) -> None:
        runner.refs -= 1
        if runner.refs:
            return
        if runner.state == UNLOADING:
            self._remove(host, runner)
        else:
            runner.expire_version += 1
            self._push(
                self.now + host.spec.keep_alive_s, _EXPIRE, (host, runner), runner.expire_version
            )

    # --- learning, as the worker does it ------------------------------------------------------
    def _learn(self, host: Host, job: Job, active: int) -> None:
        m = job.profile.model
        if job.embed:  # the worker only knows the wall time of an embedding
            sample = TimingSample(ok=True, cold=job.cold)
        else:
            sample = TimingSample(
                ok=True,
                load_s=job.runner_at - job.start if job.cold else 0.0,
                prompt_tokens=job.profile.prompt_tokens - job.cached,  # Ollama's count
                prompt_s=job.first - job.prompt_start,
                gen_tokens=job.out_tokens,
                gen_s=job.done - job.gen_start,
                cold=job.cold,
                active=active if self.learn_active else 0,
            )
        host.stats[m] = update_stats(host.stats.get(m), sample, EWMA_ALPHA)
        if sample.gen_tokens > 0:
            key = (m, job.profile.task_type)
            self.output_tokens[key] = update_output_tokens(
                self.output_tokens.get(key), sample.gen_tokens, EWMA_ALPHA
            )
            self._outtok_view = MappingProxyType(dict(self.output_tokens))
