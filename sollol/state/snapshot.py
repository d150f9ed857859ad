"""Reading the whole fleet from Redis into the router's FleetSnapshot.

Two round trips: the host set, then one pipeline with, per host, its record, liveness lease,
running leases, queue depth per priority (all ten kombu lists), learned stats and circuit state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.names import normalize_model
from sollol.router import FleetSnapshot, HostState, LoadedModel
from sollol.state.circuit import effective_state
from sollol.state.health import assess, waiting_checks
from sollol.state.inflight import parse_running
from sollol.state.queues import LEVELS, priority_list_keys
from sollol.state.registry import HostRecord, host_names
from sollol.state.stats import OUTTOK_SEP, decode_stats

__all__ = [
    "HostView",
    "expires_timestamp",
    "host_state",
    "parse_expires",
    "read_fleet",
    "read_output_tokens",
    "snapshot_of",
]

_FRACTION = re.compile(r"(\.\d{6})\d+")
_PER_HOST = 7 + LEVELS


class HostView:
    """Everything read about one host: its record plus live counters (for /api/ps, dashboards)."""

    __slots__ = ("check", "circuit", "health", "queued", "reason", "record", "running", "stats")

    def __init__(
        self,
        record: HostRecord,
        running: Mapping[str, int],
        queued: tuple[int, ...],
        stats: Mapping[str, Any],
        circuit: Mapping[str, str],
        check: Mapping[str, str] | None = None,
    ) -> None:
        self.record = record
        self.running = running
        self.queued = queued
        self.stats = stats
        self.circuit = circuit  # raw hash; "state" already made effective (open → half_open)
        self.check = check or {}
        self.health = "healthy"
        self.reason = ""


def expires_timestamp(value: str) -> float:
    """Epoch seconds of an /api/ps ``expires_at`` (RFC 3339, up to 9 fraction digits); 0 if unparsable."""
    try:
        return datetime.fromisoformat(
            _FRACTION.sub(r"\1", value.replace("Z", "+00:00"))
        ).timestamp()
    except (ValueError, AttributeError):
        return 0.0


def parse_expires(value: str, now: float) -> float | None:
    """Seconds until an /api/ps ``expires_at``; None if unknown or practically never (> 10 years)."""
    at = expires_timestamp(value)
    if not at:
        return None
    left = at - now
    return None if left > 10 * 365 * 86_400 else left


def read_fleet(redis: Any, cfg: SOLLOLConfig, now: float | None = None) -> list[HostView]:
    """All registered hosts with live counters, in two round trips."""
    now = time.time() if now is None else now
    names = host_names(redis, cfg)
    pipe = redis.pipeline(transaction=False)
    for n in names:
        pipe.hgetall(cfg.key("host", n))
        pipe.exists(cfg.key("alive", n))
        pipe.zrangebyscore(cfg.key("running", n), now, "+inf")
        pipe.hgetall(cfg.key("stats", n))
        pipe.hgetall(cfg.key("circuit", n))
        pipe.get(cfg.key("drain", n))
        pipe.hgetall(cfg.key("health", n))
        for key in priority_list_keys(n):
            pipe.llen(key)
    flat = pipe.execute()
    views = []
    for i, _ in enumerate(names):
        raw, alive, running, stats, circuit, drain, check, *depths = flat[
            i * _PER_HOST : (i + 1) * _PER_HOST
        ]
        if not raw:
            continue
        record = HostRecord.from_hash(raw, alive=bool(alive))
        circ = dict(circuit)
        circ["state"] = effective_state(circ, now, cfg.circuit_open_s)
        if drain:
            circ["drain"] = drain
        view = HostView(
            record,
            parse_running(running),
            _user_work(depths, check),
            decode_stats(stats),
            circ,
            dict(check),
        )
        view.health, view.reason = _assess(view, now, cfg)
        views.append(view)
    return views


def host_success_rate(stats: Mapping[str, Any]) -> float:
    """Success rate over the host's models, weighted by their sample counts (1.0 with no data)."""
    total = sum(s.samples for s in stats.values())
    if not total:
        return 1.0
    return float(sum(s.success_rate * s.samples for s in stats.values()) / total)


def _assess(view: HostView, now: float, cfg: SOLLOLConfig) -> tuple[str, str]:
    rec = view.record
    if view.circuit.get("drain"):
        return "down", f"drained by the operator: {view.circuit['drain']}"
    return assess(
        rec.alive,
        rec.ollama_ok,
        rec.ollama_error,
        rec.seen_at,
        sum(view.running.values()),
        view.circuit["state"],
        view.circuit.get("reason", ""),
        view.check,
        now,
        cfg,
    )


def _user_work(depths: list[int], check: Mapping[str, str]) -> tuple[int, ...]:
    """Queue depths per priority without the health check waiting at priority 10 (not user work)."""
    top = max(0, depths[-1] - waiting_checks(check))
    return (*depths[:-1], top)


def host_state(view: HostView, now: float) -> HostState:
    """The router's view of one host."""
    rec = view.record
    installed = {
        normalize_model(m.get("name") or m.get("model", "")): m.get("size", 0) / 2**20
        for m in rec.installed
    }
    loaded = tuple(
        LoadedModel(
            name=normalize_model(m.get("name") or m.get("model", "")),
            size_mb=m.get("size", 0) / 2**20,
            on_gpu=m.get("size_vram", 0) > 0,
            expires_in_s=parse_expires(m.get("expires_at", ""), now),
            context_length=m.get("context_length"),
        )
        for m in rec.loaded
    )
    capabilities = {  # /api/tags lists them since Ollama 0.30; absent means unknown
        normalize_model(m.get("name") or m.get("model", "")): frozenset(m["capabilities"])
        for m in rec.installed
        if m.get("capabilities")
    }
    tags = set(rec.tags)
    if rec.vram_mb == 0 and not any(m.on_gpu for m in loaded) and loaded:
        tags.add("cpu")
    return HostState(
        name=rec.name,
        installed=MappingProxyType(installed),
        loaded=loaded,
        slots=rec.slots,
        max_loaded_models=rec.max_loaded_models,
        vram_mb=float(rec.vram_mb),
        running=sum(view.running.values()),
        running_by_model=MappingProxyType(dict(view.running)),
        queued=view.queued,
        stats=MappingProxyType(dict(view.stats)),
        health=view.health,
        circuit=view.circuit.get("state", "closed"),
        tags=frozenset(tags),
        success_rate=host_success_rate(view.stats),
        capabilities=MappingProxyType(capabilities),
    )


def snapshot_of(
    views: Iterable[HostView],
    now: float,
    output_tokens: Mapping[tuple[str, str], float] | None = None,
) -> FleetSnapshot:
    return FleetSnapshot(
        hosts=tuple(host_state(v, now) for v in views),
        now=now,
        output_tokens=MappingProxyType(dict(output_tokens or {})),
    )


def read_output_tokens(redis: Any, cfg: SOLLOLConfig) -> dict[tuple[str, str], float]:
    out = {}
    for key, v in redis.hgetall(cfg.key("outtok")).items():
        model, _, task = key.rpartition(OUTTOK_SEP)
        try:
            out[(model, task)] = float(v)
        except ValueError:
            continue
    return out
