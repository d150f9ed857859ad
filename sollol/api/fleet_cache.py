"""The fleet as the gateway sees it: a snapshot at most ``snapshot_cache_ms`` old, never read inline.

A background thread re-reads the fleet from Redis (two pipelined round trips) every
``snapshot_cache_ms``; requests take the latest snapshot for free. Dispatches made since that read
started are added back on top (local deltas), so a burst of requests inside one refresh period
does not pile onto the host that looked idlest at the last read.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.router import FleetSnapshot, HostState
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
        self._deltas: list[tuple[float, str, int]] = []  # (monotonic time, host, priority)
        self._read_started = 0.0
        self.last_ok = 0.0  # monotonic time of the last successful read
        self.last_error = ""
        self._seen_models: dict[str, float] = {}  # model → monotonic time last seen installed
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # --- lifecycle ----------------------------------------------------------------------------
    def ensure_started(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            with self._lock:
                if self._thread is None or not self._thread.is_alive():
                    self._stop.clear()
                    self._thread = threading.Thread(target=self._loop, name="sollol-fleet-cache",
                                                    daemon=True)
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
        except Exception as exc:
            self.last_error = str(exc)
            if not quiet:
                raise
            return
        with self._lock:
            self._views, self._base, self._composed = views, base, None
            self._deltas = [d for d in self._deltas if d[0] >= started]
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
                self._composed = _apply(self._base, self._deltas)  # type: ignore[arg-type]
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

    def note_dispatch(self, host: str, priority: int) -> None:
        with self._lock:
            self._deltas.append((time.monotonic(), host, priority))
            self._composed = None


def _apply(base: FleetSnapshot, deltas: list[tuple[float, str, int]]) -> FleetSnapshot:
    if not deltas:
        return base
    extra: dict[str, list[int]] = {}
    for _, host, prio in deltas:
        extra.setdefault(host, [0] * 10)[prio - 1] += 1
    hosts = tuple(_add_queued(h, extra[h.name]) if h.name in extra else h for h in base.hosts)
    return dataclasses.replace(base, hosts=hosts)


def _add_queued(host: HostState, extra: list[int]) -> HostState:
    return dataclasses.replace(host, queued=tuple(q + e for q, e in zip(host.queued, extra,
                                                                        strict=True)))
