"""Per-process worker state: config, Redis client, Ollama client, host name, requests in flight."""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.state.attempt import AttemptStarter
from sollol.state.connection import connect
from sollol.workers.ollama import OllamaClient, Upstream

__all__ = ["InFlight", "WorkerContext", "get_context", "set_context"]

log = logging.getLogger("sollol.worker")
LEARN_BATCH_S = 0.2  # a sample waits at most this long before it reaches the router


@dataclass
class InFlight:
    """One request this worker is executing."""

    request_id: str
    host: str
    member: str  # its lease in running:<host>
    delivery_tag: str | None  # kombu's tag in the unacked index, renewed while we work
    attempt: int = 1
    upstream: Upstream | None = None
    cancelled: bool = False


@dataclass
class WorkerContext:
    cfg: SOLLOLConfig
    redis: Any
    ollama: OllamaClient
    host: str = ""  # set when the worker knows its queue; jobs also carry their host
    worker_name: str = field(default_factory=lambda: f"pid@{socket.gethostname()}")
    inflight: dict[str, InFlight] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    loaded_models: set[str] | None = None  # from the last /api/ps; None until the first heartbeat
    refresh: threading.Event = field(default_factory=threading.Event)
    starter: Any = None  # sollol.state.attempt.AttemptStarter on this context's Redis
    samples: queue.Queue[tuple[str, str, Any, Any]] = field(
        default_factory=lambda: queue.Queue(maxsize=10_000)
    )
    _learner: threading.Thread | None = None

    def close(self) -> None:
        """Release the context's connections (tests; a worker process keeps its context)."""
        self.ollama.close()
        self.redis.close()

    def refresh_soon(self) -> None:
        """Ask the heartbeat to re-read Ollama's models now (after a load or a 404)."""
        self.refresh.set()

    def learn(self, host: str, model: str, sample: Any, task_type: Any) -> None:
        """Queue a timing sample for the learner thread (never blocks a request)."""
        if self._learner is None or not self._learner.is_alive():
            self._learner = threading.Thread(
                target=self._learn_loop, name="sollol-learner", daemon=True
            )
            self._learner.start()
        with contextlib.suppress(queue.Full):
            self.samples.put_nowait((host, model, sample, task_type))

    def _learn_loop(self) -> None:
        """Fold queued samples into Redis in batches (two round trips per batch, not per request)."""
        from sollol.state.stats import record_samples

        while True:
            batch = [self.samples.get()]
            deadline = time.monotonic() + LEARN_BATCH_S
            while len(batch) < 500 and (left := deadline - time.monotonic()) > 0:
                try:
                    batch.append(self.samples.get(timeout=left))
                except queue.Empty:
                    break
            try:
                record_samples(self.redis, self.cfg, batch)
            except Exception as exc:  # learning must never take the worker down
                log.warning("could not record %d timing samples: %s", len(batch), exc)

    @classmethod
    def create(cls, cfg: SOLLOLConfig) -> WorkerContext:
        client = connect(
            cfg,
            socket_timeout=10,
            socket_connect_timeout=5,
            health_check_interval=15,
            retry_on_timeout=True,
        )
        ollama = OllamaClient(
            cfg.ollama_url,
            cfg.ollama_connect_timeout_s,
            cfg.ollama_read_timeout_s,
            pool=cfg.worker_slots + 4,
        )
        starter = AttemptStarter(client, cfg)
        return cls(cfg=cfg, redis=client, ollama=ollama, host=cfg.host_name, starter=starter)

    def track(self, item: InFlight) -> None:
        with self.lock:
            self.inflight[item.request_id] = item

    def untrack(self, request_id: str) -> None:
        with self.lock:
            self.inflight.pop(request_id, None)

    def current(self) -> list[InFlight]:
        with self.lock:
            return list(self.inflight.values())


_context: WorkerContext | None = None
_context_lock = threading.Lock()


def get_context(cfg: SOLLOLConfig) -> WorkerContext:
    """The process's context, created on first use."""
    global _context  # noqa: PLW0603 - one context per worker process, by design
    with _context_lock:
        if _context is None:
            _context = WorkerContext.create(cfg)
        return _context


def set_context(ctx: WorkerContext | None) -> None:
    global _context  # noqa: PLW0603 - one context per worker process, by design
    with _context_lock:
        _context = ctx
