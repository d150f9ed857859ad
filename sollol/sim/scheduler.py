"""Model residency on one node: Ollama's scheduler (server/sched.go) reduced to what routing sees.

- A request for a resident model takes a reference straight away and skips the queue.
- Any other request joins a bounded pending queue (``max_queue``; full → 503 busy) that ONE task
  serves strictly in order, so one model loads at a time and a slow load blocks later loads.
- Placement evicts while the model does not fit in memory or ``max_loaded_models`` is reached:
  an idle runner first, else the one with the shortest keep-alive (ties by name), waiting for
  the victim's in-flight requests to finish.
- When the last reference goes, the keep-alive timer starts (0 = unload now, inf = never).

All delays are profile seconds multiplied by ``time_scale``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass

from sollol.sim.profile import ModelSpec, NodeSpec
from sollol.sim.protocol import BUSY_MESSAGE, RequestError
from sollol.sim.residency import LoadConfig, Runner, RunnerState

__all__ = ["CPU_RAM_BUDGET_MB", "Scheduler", "SchedulerStats", "memory_budget_mb"]

log = logging.getLogger(__name__)

# A CPU-only box (vram_mb 0) keeps models in system RAM; 32 GiB is a typical desktop.
CPU_RAM_BUDGET_MB = 32768.0


def memory_budget_mb(vram_mb: float) -> float:
    """Memory that resident models may use on a node: its VRAM, or the notional RAM of a CPU box."""
    return vram_mb if vram_mb > 0 else CPU_RAM_BUDGET_MB


@dataclass
class SchedulerStats:
    """Counters that survive a node crash and restart (the observer's view, not Ollama's)."""

    loads: int = 0
    unloads: int = 0
    evictions: int = 0
    expirations: int = 0
    busy_rejections: int = 0
    load_seconds: float = 0.0  # real seconds spent loading, summed


@dataclass
class _Pending:
    spec: ModelSpec
    config: LoadConfig
    keep_alive_s: float
    future: asyncio.Future[Runner]


class Scheduler:
    """Residency of one node's models from boot to shutdown (a crash builds a new one)."""

    def __init__(self, node: NodeSpec, time_scale: float, stats: SchedulerStats) -> None:
        self.node = node
        self.time_scale = time_scale
        self.stats = stats
        self.runners: dict[str, Runner] = {}
        self.loading: str | None = None  # the model being loaded right now
        self._pending: deque[_Pending] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    # --- lifecycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Make the profile's ``loaded`` models resident and idle, and start the scheduler task."""
        for name in self.node.loaded:
            runner = self._new_runner(self.node.models[name], None, self.node.keep_alive_s)
            runner.state = RunnerState.LOADED
            self.runners[name] = runner
            self._idle(runner)
        self._task = asyncio.get_running_loop().create_task(self._serve_pending())

    async def close(self) -> None:
        """Stop scheduling; waiting requests are cancelled and resident models forgotten."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for entry in self._pending:
            entry.future.cancel()
        self._pending.clear()
        for runner in self.runners.values():
            runner.cancel_timer()
        self.runners.clear()

    # --- requests ------------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Requests waiting in the scheduler queue (not counting the one being placed)."""
        return sum(1 for p in self._pending if not p.future.done())

    async def acquire(self, spec: ModelSpec, config: LoadConfig, keep_alive_s: float) -> Runner:
        """A reference on a runner for ``spec``, loading it (in queue order) if needed.

        Raises RequestError 503 at once when the pending queue is full, 500 when the model can
        never fit on this node.
        """
        runner = self.runners.get(spec.name)
        if (
            runner is not None
            and runner.state is RunnerState.LOADED
            and runner.config.satisfies(config)
        ):
            runner.take(keep_alive_s)
            return runner
        if self.pending >= self.node.max_queue:
            self.stats.busy_rejections += 1
            raise RequestError(503, BUSY_MESSAGE)
        fut: asyncio.Future[Runner] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(spec, config, keep_alive_s, fut))
        self._wakeup.set()
        try:
            return await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled() and fut.exception() is None:
                self.release(fut.result())  # placed just as the client went away
            raise

    def release(self, runner: Runner) -> None:
        """A request is over: drop its reference; the last one starts the keep-alive."""
        runner.refs -= 1
        runner.served += 1
        if runner.refs == 0:
            runner.drained.set()
            self._idle(runner)

    def unload(self, name: str) -> None:
        """``keep_alive: 0`` with no prompt: unload now, or as soon as in-flight requests end."""
        runner = self.runners.get(name)
        if runner is None:
            return
        runner.keep_alive_s = 0.0
        if runner.state is RunnerState.LOADED:
            if runner.refs == 0:
                self._remove(runner)
            else:
                runner.state = RunnerState.UNLOADING

    # --- keep-alive ----------------------------------------------------------------------------
    def _idle(self, runner: Runner) -> None:
        """No request holds ``runner``: unload it now, never, or after its keep-alive."""
        if self._closed or self.runners.get(runner.spec.name) is not runner:
            return
        if runner.state is RunnerState.UNLOADING or runner.keep_alive_s == 0:
            self._remove(runner)
        elif math.isinf(runner.keep_alive_s):
            runner.expires_ns = None
        elif runner.state is RunnerState.LOADED:
            delay = runner.keep_alive_s * self.time_scale
            runner.expires_ns = time.time_ns() + int(delay * 1e9)
            runner.cancel_timer()
            runner.timer = asyncio.get_running_loop().call_later(delay, self._expire, runner)

    def _expire(self, runner: Runner) -> None:
        runner.timer = None
        if runner.refs == 0 and self.runners.get(runner.spec.name) is runner:
            self.stats.expirations += 1
            self._remove(runner)

    def _remove(self, runner: Runner) -> None:
        runner.cancel_timer()
        if self.runners.get(runner.spec.name) is runner:
            del self.runners[runner.spec.name]
            self.stats.unloads += 1

    # --- the scheduler task ----------------------------------------------------------------------
    async def _serve_pending(self) -> None:
        """Place pending requests one at a time, in arrival order (Ollama's processPending)."""
        while True:
            while not self._pending:
                self._wakeup.clear()
                await self._wakeup.wait()
            entry = self._pending.popleft()
            if entry.future.done():
                continue  # the client went away while queued
            try:
                runner = await self._place(entry)
            except Exception as exc:  # a failed placement must not stop the scheduler
                if not isinstance(exc, RequestError):
                    log.exception("scheduling %s failed", entry.spec.name)
                    exc = RequestError(500, f"error loading model: {exc}")
                if not entry.future.done():
                    entry.future.set_exception(exc)
                continue
            if entry.future.done():
                runner.keep_alive_s = entry.keep_alive_s
                if runner.refs == 0:
                    self._idle(runner)
            else:
                runner.take(entry.keep_alive_s)
                entry.future.set_result(runner)

    async def _place(self, entry: _Pending) -> Runner:
        """Make room for ``entry``'s model (evicting as needed) and load it, unless resident."""
        spec, budget = entry.spec, memory_budget_mb(self.node.vram_mb)
        if spec.size_mb > budget:
            raise RequestError(
                500,
                f"model requires more system memory ({spec.size_mb / 1024:.1f} "
                f"GiB) than is available ({budget / 1024:.1f} GiB)",
            )
        while True:
            current = self.runners.get(spec.name)
            if current is not None:
                if current.state is RunnerState.LOADED and current.config.satisfies(entry.config):
                    return current
                await self._evict(current)  # reload with other load-time options, or unloading
                continue
            if len(self.runners) < self.node.max_loaded_models and self._fits(spec, budget):
                return await self._load(entry)
            victim = self._victim()
            if victim is None:
                raise RequestError(500, "model does not fit in available memory")
            self.stats.evictions += 1
            await self._evict(victim)

    def _fits(self, spec: ModelSpec, budget: float) -> bool:
        used = sum(r.spec.size_mb for r in self.runners.values())
        return used + spec.size_mb <= budget

    def _victim(self) -> Runner | None:
        """Ollama's findRunnerToUnload: sorted by keep-alive then name, the first idle one wins,
        else the first (shortest keep-alive)."""
        ranked = sorted(self.runners.values(), key=lambda r: (r.keep_alive_s, r.spec.name))
        idle = [r for r in ranked if r.refs == 0]
        candidates = idle or ranked
        return candidates[0] if candidates else None

    async def _evict(self, runner: Runner) -> None:
        """Unload ``runner`` once its in-flight requests are done (its keep-alive becomes 0)."""
        runner.state = RunnerState.UNLOADING
        runner.keep_alive_s = 0.0
        runner.cancel_timer()
        await runner.drained.wait()
        self._remove(runner)

    async def _load(self, entry: _Pending) -> Runner:
        runner = self._new_runner(entry.spec, entry.config, entry.keep_alive_s)
        self.runners[entry.spec.name] = runner
        self.loading = entry.spec.name
        started = time.monotonic()
        try:
            await asyncio.sleep(entry.spec.load_s * self.time_scale)
        finally:
            self.loading = None
        runner.state = RunnerState.LOADED
        self.stats.loads += 1
        self.stats.load_seconds += time.monotonic() - started
        return runner

    def _new_runner(
        self, spec: ModelSpec, config: LoadConfig | None, keep_alive_s: float
    ) -> Runner:
        config = config or LoadConfig.from_options({}, spec, self.node.vram_mb)
        return Runner(
            spec, config, self.node.num_parallel, keep_alive_s, on_gpu=self.node.vram_mb > 0
        )
