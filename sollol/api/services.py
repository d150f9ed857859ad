"""The gateway's long-lived parts, built once per process and shared by every request thread."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import Any

from flask import current_app

from sollol.api.call import Call
from sollol.api.dispatch import Dispatcher
from sollol.api.fleet_cache import FleetCache
from sollol.config import SOLLOLConfig
from sollol.router import Router
from sollol.state.circuit import record_success

__all__ = ["Recorder", "Services", "services"]

log = logging.getLogger("sollol.gateway")
WAITS_KEPT = 500  # recent queue waits remembered per priority
AFFINITY_TTL_S = 1800  # Ollama's default keep-alive is 5 min; a conversation may pause longer


class Recorder:
    """Writes finished calls to ``sollol:decisions`` and successes to the hosts' circuit breakers,
    off the request path (batched, best effort)."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig, fleet: FleetCache | None = None) -> None:
        self.redis = redis
        self.cfg = cfg
        self.fleet = fleet
        self.q: queue.Queue[dict[str, Any]] = queue.Queue(maxsize=10_000)
        self._thread: threading.Thread | None = None

    def record(self, entry: dict[str, Any]) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="sollol-recorder", daemon=True)
            self._thread.start()
        with contextlib.suppress(queue.Full):  # dropping a record beats blocking a request
            self.q.put_nowait(entry)

    def _breaker_cares(self, host: str) -> bool:
        """A success only matters to a circuit that is not closed or has failures counted."""
        if self.fleet is None:
            return True
        view = next((v for v in self.fleet.views() if v.record.name == host), None)
        if view is None:
            return True
        return view.circuit.get("state", "closed") != "closed" or view.circuit.get(
            "failures", "0"
        ) not in ("0", "")

    def _loop(self) -> None:
        key = self.cfg.key("decisions")
        while True:
            batch = [self.q.get()]
            while not self.q.empty() and len(batch) < 500:
                batch.append(self.q.get_nowait())
            try:
                pipe = self.redis.pipeline(transaction=False)
                pipe.lpush(key, *[json.dumps(e, separators=(",", ":")) for e in batch])
                pipe.ltrim(key, 0, self.cfg.decisions_kept - 1)
                for e in batch:  # recent queue waits per priority, for /api/fleet
                    if e["outcome"] == "ok" and e.get("session_key"):
                        # the conversation's prompt cache now lives on this host
                        pipe.set(
                            self.cfg.key("affinity", e["session_key"]), e["host"], ex=AFFINITY_TTL_S
                        )
                    if e["outcome"] == "ok":
                        wkey = self.cfg.key("waits", e["priority"])
                        pipe.lpush(wkey, e["queue_wait_ms"])
                        pipe.ltrim(wkey, 0, WAITS_KEPT - 1)
                pipe.execute()
                now = time.time()
                for e in batch:
                    if e["outcome"] == "ok" and e["host"] and self._breaker_cares(e["host"]):
                        record_success(self.redis, self.cfg, e["host"], now)
            except Exception as exc:
                log.debug("could not record decisions: %s", exc)
                time.sleep(1)


@dataclass
class Services:
    cfg: SOLLOLConfig
    redis: Any
    celery: Any
    router: Router
    fleet: FleetCache
    dispatcher: Dispatcher
    recorder: Recorder
    metrics: Any = None

    def account(self, call: Call, outcome: str) -> None:
        """Account for a call that ended: ``outcome`` is ok, error or abandoned. Called once per
        call, by :meth:`sollol.api.lifecycle.CallLifecycle.close` only."""
        call.finished = True
        if call.host:
            self.fleet.note_finish(call.request_id, call.host, call.profile.model)
        d = call.decision
        entry = {
            "ts": time.time(),
            "request_id": call.request_id,
            "model": call.profile.model,
            "endpoint": call.endpoint,
            "host": call.host,
            "priority": call.priority,
            "task_type": call.profile.task_type,
            "attempts": call.attempt,
            "outcome": outcome,
            "score": round(d.score, 4) if d else None,
            "predicted_ms": round(d.predicted_ms, 1) if d else None,
            "actual_ms": round((time.monotonic() - call.t0) * 1000, 1),
            "queue_wait_ms": round(call.queue_wait_ms, 1),
            "reasoning": d.reasoning if d else "",
            "session_key": call.profile.session_key,
            **_speed(call),
        }
        if self.metrics is not None:
            self.metrics.observe(entry)
        self.recorder.record(entry)


def _speed(call: Call) -> dict[str, float | int]:
    """Time to first token (ms) and Ollama's generation counts, for the TTFT and tokens/s
    metrics. Streamed: when the first chunk arrived; joined answers: queue wait plus Ollama's own
    load and prompt time."""
    t = call.timings
    out: dict[str, float | int] = {}
    if call.first_chunk_at is not None:
        out["ttft_ms"] = round((call.first_chunk_at - call.t0) * 1000, 1)
    elif "prompt_eval_duration" in t:
        ns = t.get("load_duration", 0) + t["prompt_eval_duration"]
        out["ttft_ms"] = round(call.queue_wait_ms + ns / 1e6, 1)
    if t.get("eval_count") and t.get("eval_duration"):
        out["eval_count"], out["eval_duration_ns"] = t["eval_count"], t["eval_duration"]
    return out


def services() -> Services:
    svc: Services = current_app.extensions["sollol"]
    return svc
