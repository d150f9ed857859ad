"""Host records: what each worker tells the fleet about its box, refreshed by its heartbeat.

Keys (prefix ``sollol:``):
    hosts            SET of host names ever registered (entries are dropped by ``forget_host``)
    host:<name>      HASH, JSON values: url, worker, slots, vram_mb, max_loaded_models, tags,
                     ollama_ok, ollama_error, version, installed (/api/tags models),
                     loaded (/api/ps models), seen_at; expires after a day without heartbeat
    alive:<name>     STRING worker node name, TTL heartbeat_ttl_s: the host's liveness lease
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from sollol.config import SOLLOLConfig

__all__ = ["HostRecord", "forget_host", "host_names", "read_records", "write_heartbeat"]

RECORD_TTL_S = 86_400


@dataclass
class HostRecord:
    name: str
    url: str = ""
    worker: str = ""
    machine: str = ""
    pid: int = 0
    slots: int = 4
    vram_mb: int = 0
    max_loaded_models: int = 3
    tags: list[str] = field(default_factory=list)
    ollama_ok: bool = False
    ollama_error: str = ""
    version: str = ""
    installed: list[dict[str, Any]] = field(default_factory=list)
    loaded: list[dict[str, Any]] = field(default_factory=list)
    seen_at: float = 0.0
    alive: bool = False  # read side only: the liveness lease exists

    def to_hash(self) -> dict[str, str]:
        data = asdict(self)
        data.pop("alive")
        return {k: json.dumps(v) for k, v in data.items()}

    @classmethod
    def from_hash(cls, raw: dict[Any, Any], alive: bool = False) -> HostRecord:
        known = set(cls.__dataclass_fields__) - {"alive"}
        values: dict[str, Any] = {}
        for key, v in raw.items():
            if key in known:
                try:
                    values[key] = json.loads(v)
                except ValueError:
                    continue
        values.setdefault("name", "")
        return cls(alive=alive, **values)


def write_heartbeat(redis: Any, cfg: SOLLOLConfig, record: HostRecord) -> None:
    """Publish ``record`` and renew the host's liveness lease (one round trip)."""
    key = cfg.key("host", record.name)
    pipe = redis.pipeline(transaction=False)
    pipe.sadd(cfg.key("hosts"), record.name)
    pipe.hset(key, mapping=record.to_hash())
    pipe.expire(key, RECORD_TTL_S)
    pipe.set(
        cfg.key("alive", record.name), record.worker or "1", px=int(cfg.heartbeat_ttl_s * 1000)
    )
    pipe.execute()


def host_names(redis: Any, cfg: SOLLOLConfig) -> list[str]:
    return sorted(redis.smembers(cfg.key("hosts")))


def read_records(redis: Any, cfg: SOLLOLConfig, names: list[str] | None = None) -> list[HostRecord]:
    """Every registered host's record (hosts whose record expired are skipped)."""
    names = host_names(redis, cfg) if names is None else names
    pipe = redis.pipeline(transaction=False)
    for n in names:
        pipe.hgetall(cfg.key("host", n))
        pipe.exists(cfg.key("alive", n))
    flat = pipe.execute()
    out = []
    for i, _ in enumerate(names):
        raw, alive = flat[2 * i], flat[2 * i + 1]
        if raw:
            out.append(HostRecord.from_hash(raw, alive=bool(alive)))
    return out


def forget_host(redis: Any, cfg: SOLLOLConfig, name: str) -> None:
    """Remove a host from the fleet (operator action; a live worker re-registers on its next beat)."""
    pipe = redis.pipeline(transaction=False)
    pipe.srem(cfg.key("hosts"), name)
    pipe.delete(cfg.key("host", name), cfg.key("alive", name))
    pipe.execute()
