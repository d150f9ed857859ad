"""The state the discrete-event model of bench/_des.py moves around: requests (Job), resident
models (Runner) and hosts (Celery queue + workers in front of one Ollama node, and the
gateway's view of it)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from types import MappingProxyType

from _des_cache import Content, SlotCaches

from sollol.router import (
    PRIORITY_LEVELS,
    HostState,
    LoadedModel,
    ModelStats,
    RequestProfile,
)
from sollol.sim.profile import ModelSpec, NodeSpec
from sollol.sim.scheduler import memory_budget_mb

__all__ = ["LOADED", "LOADING", "UNLOADING", "Host", "HostCounters", "Job", "Runner"]

LOADING, LOADED, UNLOADING = 0, 1, 2


class Job:
    """One request: what the trace fixes (arrival, profile, true output length) and what happens."""

    __slots__ = (
        "after",
        "arrival",
        "cached",
        "cold",
        "continues",
        "done",
        "embed",
        "first",
        "gen_start",
        "host",
        "out_tokens",
        "profile",
        "prompt_start",
        "remaining",
        "rid",
        "runner_at",
        "slot",
        "start",
        "t_last",
        "version",
    )

    def __init__(
        self,
        rid: int,
        arrival: float,
        profile: RequestProfile,
        out_tokens: int,
        after: tuple[int, ...] | Content = (),
        continues: int = 0,
    ) -> None:
        self.rid, self.arrival, self.profile = rid, arrival, profile
        # what a slot holds once this request is answered (prompt + answer); () = the prompt's
        # blocks. A Content also names the exact text (bench/_des_cache.py).
        self.after = (
            after if isinstance(after, Content) else Content(after or profile.prefix_blocks)
        )
        self.continues = continues  # key of the text this prompt extends exactly (0: none)
        self.slot = -1  # the prompt-cache slot it holds while evaluating and generating
        self.cached = 0  # prompt tokens found in that slot's cache
        self.embed = profile.task_type == "embedding"
        self.out_tokens = 0 if self.embed else out_tokens
        self.host = ""
        self.start = self.runner_at = self.prompt_start = self.first = self.done = -1.0
        self.gen_start = self.t_last = self.remaining = 0.0
        self.cold = False
        self.version = 0


class Runner:
    """One resident (or loading / unloading) model on a node."""

    __slots__ = (
        "active",
        "caches",
        "capacity",
        "expire_version",
        "gens",
        "refs",
        "spec",
        "state",
        "waiters",
    )

    def __init__(self, spec: ModelSpec, num_parallel: int, state: int) -> None:
        self.spec = spec
        self.state = state
        self.refs = 0  # requests holding the runner (from obtaining it to their end)
        self.active = 0  # requests holding a slot (prompt evaluation or generation)
        self.capacity = 1 if spec.is_embedding else num_parallel
        self.caches = SlotCaches(self.capacity)  # lost with the runner (unload, eviction)
        self.waiters: deque[Job] = deque()
        self.gens: list[Job] = []  # requests generating now (processor sharing)
        self.expire_version = 0


@dataclass
class HostCounters:
    loads: int = 0
    evictions: int = 0
    expirations: int = 0


class Host:
    """A GPU box: Celery queue + workers in front of one Ollama node."""

    def __init__(self, spec: NodeSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.queues: list[deque[Job]] = [deque() for _ in range(PRIORITY_LEVELS)]
        self.busy = 0
        self.running_by_model: dict[str, int] = {}
        self.runners: dict[str, Runner] = {}
        for m in spec.loaded:
            self.runners[m] = Runner(spec.models[m], spec.num_parallel, LOADED)
        self.pending: deque[Job] = deque()
        self.sched_busy = False  # loading, or waiting for a victim to drain
        self.draining: Runner | None = None
        self.stats: dict[str, ModelStats] = {}
        self.budget = memory_budget_mb(spec.vram_mb)
        self.counters = HostCounters()
        self.installed = MappingProxyType({n: s.size_mb for n, s in spec.models.items()})
        self.tags = frozenset(spec.tags)
        self._state: HostState | None = None
        self.loaded_view: tuple[LoadedModel, ...] = ()  # /api/ps as of the last heartbeat
        self.next_heartbeat = 0.0

    def heartbeat(self, now: float, period: float) -> None:
        """The worker republishes /api/ps every ``period`` seconds (0: always current)."""
        if now < self.next_heartbeat:
            return
        self.next_heartbeat = now + period
        loaded = tuple(
            LoadedModel(name=r.spec.name, size_mb=r.spec.size_mb, on_gpu=self.spec.vram_mb > 0)
            for r in self.runners.values()
            if r.state == LOADED
        )
        if loaded != self.loaded_view:
            self.loaded_view = loaded
            self._state = None

    def state(self, now: float) -> HostState:
        """The gateway's view of this host (cached until the host changes)."""
        if self._state is None:
            self._state = HostState(
                name=self.name,
                installed=self.installed,
                loaded=self.loaded_view,
                slots=self.spec.num_parallel,
                max_loaded_models=self.spec.max_loaded_models,
                vram_mb=self.spec.vram_mb,
                running=self.busy,
                running_by_model=MappingProxyType(dict(self.running_by_model)),
                queued=tuple(len(q) for q in self.queues),
                stats=MappingProxyType(dict(self.stats)),
                tags=self.tags,
            )
        return self._state

    def changed(self) -> None:
        self._state = None
