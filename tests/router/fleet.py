"""Builders for router tests: hosts and snapshots in one line each."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

from sollol.router import FleetSnapshot, HostState, LoadedModel, ModelStats, RequestProfile

LLAMA = "llama3.2:latest"
CODER = "qwen2.5-coder:7b"
EMBED = "nomic-embed-text:latest"
SIZES = {LLAMA: 2000.0, CODER: 4700.0, EMBED: 300.0, "llama3.1:8b": 4900.0}


def stats(
    prompt_tps: float = 2000.0,
    gen_tps: float = 80.0,
    load_s: float | None = 2.0,
    success_rate: float = 1.0,
    samples: int = 20,
) -> ModelStats:
    return ModelStats(
        prompt_tps=prompt_tps,
        gen_tps=gen_tps,
        load_s=load_s,
        success_rate=success_rate,
        samples=samples,
    )


def host(
    name: str,
    *,
    installed: Iterable[str] = (LLAMA,),
    loaded: Iterable[str] = (LLAMA,),
    slots: int = 4,
    running: int = 0,
    queued: Mapping[int, int] | None = None,
    learned: Mapping[str, ModelStats] | None = None,
    running_by_model: Mapping[str, int] | None = None,
    max_loaded_models: int = 3,
    vram_mb: float = 24576.0,
    tags: Iterable[str] = ("gpu",),
    health: str = "healthy",
    circuit: str = "closed",
    success_rate: float = 1.0,
) -> HostState:
    """A host; ``queued`` maps priority → messages waiting; ``learned`` model → stats."""
    q = [0] * 10
    for p, n in (queued or {}).items():
        q[p - 1] = n
    by_model = (
        dict(running_by_model)
        if running_by_model is not None
        else ({next(iter(loaded), LLAMA): running} if running else {})
    )
    return HostState(
        name=name,
        installed=MappingProxyType({m: SIZES.get(m, 2000.0) for m in installed}),
        loaded=tuple(
            LoadedModel(m, SIZES.get(m, 2000.0), on_gpu="cpu" not in tags) for m in loaded
        ),
        slots=slots,
        max_loaded_models=max_loaded_models,
        vram_mb=vram_mb,
        running=running,
        running_by_model=MappingProxyType(by_model),
        queued=tuple(q),
        stats=MappingProxyType(dict(learned or {})),
        health=health,
        circuit=circuit,
        tags=frozenset(tags),
        success_rate=success_rate,
    )


def snap(
    *hosts: HostState,
    affinity: Mapping[str, str] | None = None,
    output_tokens: Mapping[tuple[str, str], float] | None = None,
) -> FleetSnapshot:
    return FleetSnapshot(
        hosts=tuple(hosts),
        affinity=MappingProxyType(dict(affinity or {})),
        output_tokens=MappingProxyType(dict(output_tokens or {})),
    )


def request(
    model: str = LLAMA,
    *,
    priority: int = 5,
    task_type: str = "chat",
    prompt_tokens: int = 100,
    output_tokens: int | None = None,
    session_key: str | None = None,
    needs_gpu: bool = False,
    endpoint: str = "chat",
) -> RequestProfile:
    return RequestProfile(
        model=model,
        endpoint=endpoint,
        task_type=task_type,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        priority=priority,
        session_key=session_key,
        needs_gpu=needs_gpu,
    )
