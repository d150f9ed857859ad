"""The fleet as the gateway sees it: a snapshot at most ``snapshot_cache_ms`` old, never read inline.

A background thread re-reads the fleet from Redis (two pipelined round trips) every
``snapshot_cache_ms``; requests take the latest snapshot for free. What this gateway did since that
read started is applied on top (local deltas): its dispatches count as queued, so a burst inside
one refresh period does not pile onto the host that looked idlest; its calls that finished no
longer count as running, so back-to-back requests do not see a busy host that is idle.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import Counter
from types import MappingProxyType
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.router import FleetSnapshot, HostState
from sollol.state.prefixes import PrefixBook
from sollol.state.snapshot import HostView, read_fleet, read_output_tokens, snapshot_of

__all__ = ["FleetCache"]

log = logging.getLogger("sollol.gateway")


class FleetCache:
    """Latest fleet snapshot plus this process's dispatches since it was read."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig) -> None:
        self.redis = redis
        self.cfg = cfg
        self._lock = threading.Lock()
        self._views: list[HostView] = []
        self._base: FleetSnapshot | None = None
        self._composed: FleetSnapshot | None = None
        self._queued: dict[str, tuple[float, str, int]] = {}  # request id → (time, host, priority)
        self._done: list[tuple[float, str, str]] = []  # (time, host, model) finished since read
        self.last_ok = 0.0  # monotonic time of the last successful read
        self.last_error = ""
        self._seen_models: dict[str, float] = {}  # model → monotonic time last seen installed
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.prefixes = PrefixBook()  # prompts this gateway dispatched, per host

    # --- lifecycle ----------------------------------------------------------------------------
    def ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(
                        target=self._loop, name="sollol-fleet-cache", daemon=True
                    )
                    self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        period = self.cfg.snapshot_cache_ms / 1000
        while not self._stop.is_set():
            self.refresh(quiet=True)
            self._stop.wait(period)

    # --- reading ------------------------------------------------------------------------------
    def refresh(self, quiet: bool = False) -> None:
        """Re-read the fleet now; on failure keep the previous snapshot and remember the error."""
        started = time.monotonic()
        try:
            now = time.time()
            views = read_fleet(self.redis, self.cfg, now)
            base = snapshot_of(views, now, read_output_tokens(self.redis, self.cfg))
            self.prefixes.forget_unloaded(base)
            base = dataclasses.replace(base, prefixes=self.prefixes.view)
        except Exception as exc:
            self.last_error = str(exc)
            if not quiet:
                raise
            return
        with self._lock:
            self._views, self._base, self._composed = views, base, None
            self._queued = {k: d for k, d in self._queued.items() if d[0] >= started}
            self._done = [d for d in self._done if d[0] >= started]
            self.last_ok = time.monotonic()
            self.last_error = ""
            for host in base.hosts:
                for model in host.installed:
                    self._seen_models[model] = self.last_ok

    def snapshot(self) -> FleetSnapshot:
        """The freshest snapshot with local deltas applied (reads inline only the very first time)."""
        self.ensure_started()
        if self._base is None:
            self.refresh()
        with self._lock:
            if self._composed is None:
                assert self._base is not None  # refresh() raised otherwise
                self._composed = _apply(self._base, list(self._queued.values()), self._done)
            return self._composed

    def views(self) -> list[HostView]:
        """Raw per-host views (records with Ollama's own tags/ps), for /api/tags, /api/ps, status."""
        self.ensure_started()
        if self._base is None:
            self.refresh()
        with self._lock:
            return list(self._views)

    def recently_seen(self, model: str, within_s: float = 300.0) -> bool:
        """Was ``model`` installed on some host in the last ``within_s`` seconds? (Then a fleet
        that lacks it now — a Redis restart, hosts re-registering — answers 503, not 404.)"""
        seen = self._seen_models.get(model)
        return seen is not None and time.monotonic() - seen < within_s

    def age_s(self) -> float:
        return time.monotonic() - self.last_ok if self.last_ok else float("inf")

    def note_dispatch(self, request_id: str, host: str, priority: int) -> None:
        """This gateway just queued ``request_id`` on ``host``."""
        with self._lock:
            self._queued[request_id] = (time.monotonic(), host, priority)
            self._composed = None

    def note_finish(self, request_id: str, host: str, model: str) -> None:
        """A call of this gateway ended: it no longer occupies a slot on ``host``."""
        with self._lock:
            if self._queued.pop(request_id, None) is None:  # the snapshot saw it: undo its slot
                self._done.append((time.monotonic(), host, model))
            self._composed = None


def _apply(
    base: FleetSnapshot, queued: list[tuple[float, str, int]], done: list[tuple[float, str, str]]
) -> FleetSnapshot:
    if not queued and not done:
        return base
    extra: dict[str, list[int]] = {}
    for _, host, prio in queued:
        extra.setdefault(host, [0] * 10)[prio - 1] += 1
    finished: dict[str, Counter[str]] = {}
    for _, host, model in done:
        finished.setdefault(host, Counter())[model] += 1
    hosts = tuple(_adjust(h, extra.get(h.name), finished.get(h.name)) for h in base.hosts)
    return dataclasses.replace(base, hosts=hosts)


def _adjust(host: HostState, extra: list[int] | None, finished: Counter[str] | None) -> HostState:
    if extra is None and finished is None:
        return host
    changes: dict[str, object] = {}
    if extra is not None:
        changes["queued"] = tuple(q + e for q, e in zip(host.queued, extra, strict=True))
    if finished:
        by_model = {m: max(0, n - finished.get(m, 0)) for m, n in host.running_by_model.items()}
        changes["running"] = max(0, host.running - sum(finished.values()))
        changes["running_by_model"] = MappingProxyType(by_model)
    return dataclasses.replace(host, **changes)  # type: ignore[arg-type]
