"""One simulated Ollama node's state, independent of HTTP: installed models, residency, faults,
request accounting, and the *lease* through which every inference request runs.

A lease is what a request holds in Ollama between obtaining a runner and finishing: a reference
on the runner (obtained through the scheduler, maybe after a load) and then one of its parallel
slots. ``load_ns`` is measured exactly as Ollama reports ``load_duration``: from handler start
until the runner was obtained, queueing and evictions included.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sollol.names import normalize_model
from sollol.sim.faults import Faults
from sollol.sim.ledger import RequestLedger
from sollol.sim.profile import ModelSpec, NodeSpec
from sollol.sim.residency import LoadConfig, Runner
from sollol.sim.scheduler import Scheduler, SchedulerStats, memory_budget_mb

__all__ = ["Lease", "Pacer", "SimNode"]


class Pacer:
    """How long token loops sleep between writes, shared by all nodes of a fleet (one CPU budget).

    Below ``MIN_TICK_S`` per token, tokens are batched per sleep; with many concurrent streams the
    tick grows so the whole process wakes up at most ``WAKEUPS_PER_S`` times a second (this box
    has 2 cores and benchmarks drive 100 streams). Each token is still its own NDJSON line.
    """

    MIN_TICK_S = 0.001
    WAKEUPS_PER_S = 20_000.0

    def __init__(self) -> None:
        self.streams = 0  # token loops running right now, fleet-wide

    def tick_s(self) -> float:
        return max(self.MIN_TICK_S, self.streams / self.WAKEUPS_PER_S)


@dataclass(frozen=True)
class Lease:
    """A runner reference plus one slot, held by one request."""

    runner: Runner
    started: float  # time.monotonic() at handler start
    load_ns: int  # handler start → runner obtained (Ollama's load_duration)


class SimNode:
    """One node across crashes: the scheduler is rebuilt at each boot, counters are kept."""

    def __init__(self, spec: NodeSpec, time_scale: float, pacer: Pacer | None = None) -> None:
        # a private copy of the installed models: pull, copy, create and delete change it
        self.spec = dataclasses.replace(spec, models=dict(spec.models))
        self.pulled_ns: dict[str, int] = {}  # model → when pull/copy/create installed it
        self.time_scale = time_scale
        self.pacer = pacer or Pacer()
        self.stats = SchedulerStats()
        self.scheduler = Scheduler(spec, time_scale, self.stats)
        self.faults = Faults(spec.failures, spec.seed)
        self.ledger = RequestLedger()
        self.requests: Counter[str] = Counter()  # received / completed / failed / cancelled
        self.in_flight = 0
        self.boots = 0
        self.boot_ns = time.time_ns()  # installed models' modified_at derive from it

    # --- lifecycle (inside the event loop) ----------------------------------------------------
    def boot(self) -> None:
        """Start serving: the profile's ``loaded`` models resident, an empty scheduler queue."""
        self.scheduler = Scheduler(self.spec, self.time_scale, self.stats)
        self.scheduler.start()
        self.boots += 1

    async def crash(self) -> None:
        """Lose everything resident, like a box that went down (counters survive)."""
        await self.scheduler.close()

    # --- models -------------------------------------------------------------------------------
    def find_model(self, name: str) -> ModelSpec | None:
        """The installed model ``name`` refers to, matched as Ollama does (case, ``:latest``)."""
        return self.spec.models.get(normalize_model(name)) if name.strip() else None

    def install(self, spec: ModelSpec) -> None:
        """Add ``spec`` to the installed models (a pull, copy or create), modified now."""
        models = self.spec.models
        assert isinstance(models, dict)
        models[spec.name] = spec
        self.pulled_ns[spec.name] = time.time_ns()

    def uninstall(self, name: str) -> None:
        """Remove an installed model, unloading it first as Ollama's delete does."""
        models = self.spec.models
        assert isinstance(models, dict)
        models.pop(name, None)
        self.pulled_ns.pop(name, None)
        if name in self.scheduler.runners:
            self.scheduler.unload(name)

    def load_config(self, spec: ModelSpec, options: dict[str, Any]) -> LoadConfig:
        return LoadConfig.from_options(options, spec, self.spec.vram_mb)

    # --- serving ------------------------------------------------------------------------------
    @asynccontextmanager
    async def lease(
        self, spec: ModelSpec, config: LoadConfig, keep_alive_s: float, started: float
    ) -> AsyncIterator[Lease]:
        """Obtain a runner (maybe queueing for a load) then a slot; both released on exit,
        including when the client goes away (the handler task is cancelled)."""
        scheduler = self.scheduler  # a crash swaps it; release to the one we took from
        runner = await scheduler.acquire(spec, config, keep_alive_s)
        try:
            load_ns = int((time.monotonic() - started) * 1e9)
            await runner.slots.acquire()
            try:
                yield Lease(runner, started, load_ns)
            finally:
                runner.slots.release()
        finally:
            scheduler.release(runner)

    async def sleep(self, profile_seconds: float) -> None:
        """Wait ``profile_seconds`` of simulated time (scaled by the profile's time_scale)."""
        if profile_seconds > 0:
            await asyncio.sleep(profile_seconds * self.time_scale)

    # --- observation --------------------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The node as ``GET /_sim/state`` shows it (JSON-safe)."""
        sched = self.scheduler
        models = {name: _runner_state(r, self.time_scale) for name, r in sched.runners.items()}
        faults = self.faults
        remaining = None if faults.until is None else max(0.0, faults.until - time.monotonic())
        return {
            "name": self.spec.name,
            "fault": faults.mode.value,
            "fault_remaining_s": remaining,
            "faults_injected": dict(faults.injected),
            "models": models,
            "loading": sched.loading,
            "pending": sched.pending,
            "used_mb": sum(r.spec.size_mb for r in sched.runners.values()),
            "memory_mb": memory_budget_mb(self.spec.vram_mb),
            "vram_mb": self.spec.vram_mb,
            "num_parallel": self.spec.num_parallel,
            "max_loaded_models": self.spec.max_loaded_models,
            "max_queue": self.spec.max_queue,
            "loads": self.stats.loads,
            "load_seconds": round(self.stats.load_seconds, 6),
            "unloads": self.stats.unloads,
            "evictions": self.stats.evictions,
            "expirations": self.stats.expirations,
            "busy_rejections": self.stats.busy_rejections,
            "requests": {
                **dict.fromkeys(("received", "completed", "failed", "cancelled"), 0),
                **self.requests,
                "in_flight": self.in_flight,
            },
            "boots": self.boots,
        }


def _runner_state(runner: Runner, time_scale: float) -> dict[str, Any]:
    keep_alive = runner.keep_alive_s
    return {
        "state": runner.state.value,
        "refs": runner.refs,
        "active": runner.slots.active,
        "waiting": runner.slots.waiting,
        "slots": runner.slots.capacity,
        "keep_alive_s": None if keep_alive == float("inf") else keep_alive,
        "num_ctx": runner.config.num_ctx,
        "served": runner.served,
        "size_mb": runner.spec.size_mb,
    }
