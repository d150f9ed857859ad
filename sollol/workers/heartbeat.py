"""What keeps a worker's host visible and its work safe, in two small background threads.

Heartbeat (every ``heartbeat_interval_s``, or at once after a model load or a 404): read the
local Ollama's ``/api/tags``, ``/api/ps`` and ``/api/version`` and publish the host record and
its liveness lease. It may block on a hung Ollama, so it never does anything else.

Watch (every 0.25 s, never blocks on Ollama): renew the leases of the requests this worker is
executing — its members of ``running:<host>`` and kombu's ``unacked_index`` scores of the
messages it holds, so the broker never hands a live request to a second worker — and abort the
upstream call of any request whose client went away (``cancel:<id>``), freeing Ollama's slot.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

from sollol.names import normalize_model
from sollol.state import inflight
from sollol.state.registry import HostRecord, write_heartbeat
from sollol.workers.context import WorkerContext

__all__ = ["BackgroundLoops", "probe"]

log = logging.getLogger("sollol.worker")
UNACKED_INDEX = "unacked_index"  # kombu's Redis transport key (no global_keyprefix)
WATCH_INTERVAL_S = 0.25


def probe(ctx: WorkerContext) -> HostRecord:
    """The host record as the local Ollama describes itself right now."""
    cfg = ctx.cfg
    tags = [t.strip() for t in cfg.worker_tags.split(",") if t.strip()]
    rec = HostRecord(
        name=ctx.host,
        url=cfg.ollama_url,
        worker=ctx.worker_name,
        machine=socket.gethostname(),
        pid=os.getpid(),
        slots=cfg.worker_slots,
        vram_mb=cfg.worker_vram_mb,
        max_loaded_models=cfg.worker_max_loaded_models,
        tags=tags,
        seen_at=time.time(),
    )
    try:
        rec.installed = list(ctx.ollama.get_json("/api/tags").get("models") or [])
        rec.loaded = list(ctx.ollama.get_json("/api/ps").get("models") or [])
        rec.version = str(ctx.ollama.get_json("/api/version").get("version", ""))
        rec.ollama_ok = True
    except Exception as exc:
        rec.ollama_error = str(exc)[:300]
    return rec


class BackgroundLoops:
    """Starts and stops the heartbeat and watch threads of one worker process."""

    def __init__(self, ctx: WorkerContext, requests_held: Any = None) -> None:
        self.ctx = ctx
        self.requests_held = requests_held or (list)  # → kombu delivery tags held now
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._heartbeat_loop, name="sollol-heartbeat", daemon=True),
            threading.Thread(target=self._watch_loop, name="sollol-watch", daemon=True),
        ]

    def start(self) -> None:
        self.beat_once()
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        self.ctx.refresh.set()
        for t in self.threads:
            t.join(timeout=5)

    def beat_once(self) -> None:
        rec = probe(self.ctx)
        if rec.ollama_ok:
            self.ctx.loaded_models = {normalize_model(m.get("name", "")) for m in rec.loaded}
        elif rec.ollama_error:
            log.warning("host %s: Ollama unreachable: %s", rec.name, rec.ollama_error)
        write_heartbeat(self.ctx.redis, self.ctx.cfg, rec)

    def _heartbeat_loop(self) -> None:
        while not self.stopping.is_set():
            self.ctx.refresh.wait(self.ctx.cfg.heartbeat_interval_s)
            self.ctx.refresh.clear()
            if self.stopping.is_set():
                return
            self._guard(self.beat_once)

    def _watch_loop(self) -> None:
        last_renew = 0.0
        while not self.stopping.wait(WATCH_INTERVAL_S):
            self._guard(self.check_cancellations)
            if time.monotonic() - last_renew >= 1.0:
                last_renew = time.monotonic()
                self._guard(self.renew_leases)

    def _guard(self, fn: Any) -> None:
        try:
            fn()
        except Exception as exc:  # Redis restarting: keep trying, the next tick may succeed
            log.warning("%s failed: %s", getattr(fn, "__name__", fn), exc)

    def check_cancellations(self) -> None:
        """Abort upstream calls of requests whose client went away (``cancel:<id>`` ≥ attempt)."""
        items = self.ctx.current()
        if not items:
            return
        keys = [self.ctx.cfg.key("cancel", it.request_id) for it in items]
        for it, flag in zip(items, self.ctx.redis.mget(keys), strict=True):
            if flag is not None and int(flag) >= it.attempt and not it.cancelled:
                it.cancelled = True
                if it.upstream is not None:
                    it.upstream.abort()

    def renew_leases(self) -> None:
        """Keep this worker's requests counted and its unacked messages from being redelivered."""
        by_host: dict[str, list[str]] = {}
        for it in self.ctx.current():
            by_host.setdefault(it.host, []).append(it.member)
        if self.ctx.host:
            by_host.setdefault(self.ctx.host, [])
        for host, members in by_host.items():
            inflight.renew(self.ctx.redis, self.ctx.cfg, host, members)
        tags = [t for t in self.requests_held() if t]
        if tags:
            now = time.time()
            self.ctx.redis.zadd(UNACKED_INDEX, dict.fromkeys(tags, now), xx=True)
