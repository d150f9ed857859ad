"""One model resident on a node (a "runner" in Ollama's words): its slots, references and
keep-alive.

A runner is LOADING while the scheduler loads it, LOADED while it serves, and UNLOADING once it is
chosen for eviction or told to unload while requests still hold it. Requests hold a *reference*
from the moment they obtain the runner until their HTTP request ends; inside that they hold one of
the runner's ``num_parallel`` *slots* while evaluating and generating (server/sched.go: the
reference count drives keep-alive; the slot semaphore has unbounded waiting).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sollol.sim.profile import ModelSpec
from sollol.sim.prompt_cache import PromptCache

__all__ = ["LoadConfig", "Runner", "RunnerState", "Slots", "default_num_ctx"]

MIB = 1024 * 1024


class RunnerState(enum.Enum):
    LOADING = "loading"
    LOADED = "loaded"
    UNLOADING = "unloading"


def default_num_ctx(vram_mb: float) -> int:
    """Ollama's VRAM-tiered default context: 4096 below 23 GiB, 32768 below 47 GiB, else 262144."""
    if vram_mb >= 47 * 1024:
        return 262144
    if vram_mb >= 23 * 1024:
        return 32768
    return 4096


@dataclass(frozen=True)
class LoadConfig:
    """The load-time options a runner was started with; a request asking for others reloads it."""

    num_ctx: int
    num_batch: int = 512
    num_gpu: int = -1  # -1 = automatic layer split
    main_gpu: int = 0
    use_mmap: bool | None = None
    num_thread: int = 0

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], spec: ModelSpec, vram_mb: float
    ) -> LoadConfig:
        """The config a request asks for: its options over the defaults, num_ctx capped at the
        model's training context, and at least 2048 for a vision model as Ollama's scheduler
        sets it (options are already type-checked by ``parsing``)."""
        num_ctx = options.get("num_ctx") or 0
        num_ctx = max(4, num_ctx) if num_ctx > 0 else default_num_ctx(vram_mb)
        if "vision" in spec.capabilities:
            num_ctx = max(num_ctx, 2048)
        kw = {
            k: options[k]
            for k in ("num_batch", "num_gpu", "main_gpu", "use_mmap", "num_thread")
            if k in options
        }
        return cls(num_ctx=min(num_ctx, spec.context_length), **kw)

    def satisfies(self, wanted: LoadConfig) -> bool:
        """True when a runner started with ``self`` can serve a request wanting ``wanted``
        (``needsReload``: num_gpu -1 in the request accepts any split)."""
        if wanted.num_gpu == -1:
            wanted = LoadConfig(
                wanted.num_ctx,
                wanted.num_batch,
                self.num_gpu,
                wanted.main_gpu,
                wanted.use_mmap,
                wanted.num_thread,
            )
        return self == wanted


class Slots:
    """A FIFO semaphore of ``capacity`` parallel slots, unbounded waiting; ``active`` is live."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.active = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return sum(1 for w in self._waiters if not w.done())

    async def acquire(self) -> None:
        """Take a slot, waiting in arrival order; a cancelled waiter never leaks a slot."""
        if self.active < self.capacity and not self._waiters:
            self.active += 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed over just as the client went away
            raise

    def release(self) -> None:
        """Hand the slot to the oldest live waiter, or free it."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # ``active`` is unchanged: the slot changes hands
                return
        self.active -= 1


class Runner:
    """A model on a node: state, references, slots and the keep-alive that applies once idle."""

    def __init__(
        self,
        spec: ModelSpec,
        config: LoadConfig,
        num_parallel: int,
        keep_alive_s: float,
        on_gpu: bool,
    ) -> None:
        self.spec = spec
        self.config = config
        self.state = RunnerState.LOADING
        self.refs = 0
        self.keep_alive_s = keep_alive_s  # seconds of profile time; inf = forever, 0 = unload
        self.slots = Slots(1 if spec.is_embedding else num_parallel)  # embedders run 1 at a time
        self.prompt_cache = PromptCache(self.slots.capacity)  # lost with the runner
        self.on_gpu = on_gpu
        self.expires_ns: int | None = None  # wall-clock ns when it will unload if still idle
        self.timer: asyncio.TimerHandle | None = None
        self.drained = asyncio.Event()  # set whenever no request holds the runner
        self.drained.set()
        self.served = 0

    @property
    def size_bytes(self) -> int:
        return int(self.spec.size_mb * MIB)

    def take(self, keep_alive_s: float) -> None:
        """A request obtains the runner; its keep_alive becomes the runner's idle timeout."""
        self.refs += 1
        self.keep_alive_s = keep_alive_s
        self.drained.clear()
        self.cancel_timer()

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def expires_ns_now(self, time_scale: float) -> int:
        """``expires_at`` as /api/ps shows it at this moment (ns since the epoch)."""
        now = time.time_ns()
        if self.state is RunnerState.UNLOADING:
            return now
        if self.refs == 0 and self.expires_ns is not None:
            return self.expires_ns
        horizon = self.keep_alive_s * time_scale
        return now + (2**63 - 1 if horizon == float("inf") else int(horizon * 1e9))
