"""Simulated fleet profiles: the YAML format of ``sollol sim --profile`` and
``sollol up --sim-profile``.

The same parsed :class:`FleetProfile` drives the live simulator (``sollol.sim``), the workers that
``sollol up`` starts in front of it, and the discrete-event policy benchmark in ``bench/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sollol.names import normalize_model, validate_host_name
from sollol.sim.families import CAPABILITIES, family_of

__all__ = [
    "FailureSpec",
    "FleetProfile",
    "ModelSpec",
    "NodeSpec",
    "ProfileError",
    "load_profile",
    "parse_profile",
    "uniform_profile",
]

DEFAULT_BASE_PORT = 11501


class ProfileError(ValueError):
    """A fleet profile that cannot be used, with the path of the offending entry."""


@dataclass(frozen=True)
class ModelSpec:
    """One installed model: size, load time and speed at one request at a time on this node."""

    name: str  # normalized ("llama3.2:latest")
    size_mb: float = 2000.0
    load_s: float = 2.0
    prompt_tps: float = 1000.0  # prompt tokens/s
    gen_tps: float = 50.0  # generated tokens/s for a single request
    embed_dim: int = 0  # > 0: an embedding model
    embed_tps: float = 2000.0  # embedding input tokens/s
    family: str = "llama"
    parameter_size: str = "3B"
    quantization_level: str = "Q4_K_M"
    context_length: int = 8192
    # Ollama's names (completion, tools, thinking, vision, insert, embedding); from the model
    # name's family when the profile gives none (sollol.sim.families)
    capabilities: tuple[str, ...] = ()

    @property
    def is_embedding(self) -> bool:
        return self.embed_dim > 0


@dataclass(frozen=True)
class FailureSpec:
    """Probabilities per request of each injected failure, each in [0, 1]."""

    error_rate: float = 0.0  # 500 {"error": ...}
    busy_rate: float = 0.0  # 503 Ollama's "server busy" message
    hang_rate: float = 0.0  # never answers
    crash_mid_stream_rate: float = 0.0  # connection dropped after some chunks
    error_mid_stream_rate: float = 0.0  # a final {"error": ...} line after some chunks


@dataclass(frozen=True)
class NodeSpec:
    name: str  # also the worker's host and queue name
    port: int
    models: Mapping[str, ModelSpec]
    vram_mb: float = 24576.0  # 0: CPU-only box (models run in system RAM)
    num_parallel: int = 4
    max_loaded_models: int = 3
    loaded: tuple[str, ...] = ()
    failures: FailureSpec = field(default_factory=FailureSpec)
    keep_alive_s: float = 300.0  # default keep_alive (OLLAMA_KEEP_ALIVE)
    max_queue: int = 512  # OLLAMA_MAX_QUEUE: pending requests that need a load
    tags: tuple[str, ...] = ()  # e.g. ("gpu",), ("cpu",), ("gpu", "code")
    seed: int = 0
    pull_mbps: float = 1000.0  # download bandwidth of /api/pull, megabits per second
    catalog: Mapping[str, ModelSpec] = field(default_factory=dict)  # what /api/pull can fetch

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass(frozen=True)
class FleetProfile:
    nodes: tuple[NodeSpec, ...]
    time_scale: float = 1.0  # multiplies every simulated delay: 0.1 runs 10x faster

    def node(self, name: str) -> NodeSpec:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def _num(where: str, value: Any, lo: float = 0.0, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ProfileError(f"{where}: expected a number, got {value!r}")
    if value < lo or (hi is not None and value > hi):
        bound = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ProfileError(f"{where}: {value!r} must be {bound}")
    return float(value)


def _model(where: str, name: str, raw: Any) -> ModelSpec:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a mapping of model settings")
    known = {
        "size_mb",
        "load_s",
        "prompt_tps",
        "gen_tps",
        "embed_dim",
        "embed_tps",
        "family",
        "parameter_size",
        "quantization_level",
        "context_length",
        "capabilities",
    }
    unknown = set(raw) - known
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    kw: dict[str, Any] = {}
    for key in ("size_mb", "load_s", "embed_tps"):
        if key in raw:
            kw[key] = _num(f"{where}.{key}", raw[key])
    for key in ("prompt_tps", "gen_tps"):
        if key in raw:
            kw[key] = _num(f"{where}.{key}", raw[key], lo=1e-6)
    for key in ("embed_dim", "context_length"):
        if key in raw:
            kw[key] = int(_num(f"{where}.{key}", raw[key], lo=1))
    for key in ("family", "parameter_size", "quantization_level"):
        if key in raw:
            kw[key] = str(raw[key])
    defaults = family_of(name, embedding=int(raw.get("embed_dim", 0) or 0) > 0)
    kw.setdefault("family", defaults.family)
    kw["capabilities"] = _capabilities(where, raw.get("capabilities", defaults.capabilities))
    return ModelSpec(name=normalize_model(name), **kw)


def _capabilities(where: str, raw: Any) -> tuple[str, ...]:
    """``capabilities: [completion, tools]``: a list of Ollama's capability names."""
    if not isinstance(raw, list | tuple) or not all(isinstance(c, str) for c in raw):
        raise ProfileError(f"{where}.capabilities: expected a list of capability names")
    unknown = set(raw) - CAPABILITIES
    if unknown:
        raise ProfileError(
            f"{where}.capabilities: unknown {sorted(unknown)}; known: {sorted(CAPABILITIES)}"
        )
    return tuple(raw)


def _failures(where: str, raw: Any) -> FailureSpec:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a mapping")
    unknown = set(raw) - set(FailureSpec.__dataclass_fields__)
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    return FailureSpec(**{k: _num(f"{where}.{k}", v, 0.0, 1.0) for k, v in raw.items()})


_NODE_KEYS = {
    "name",
    "port",
    "vram_mb",
    "num_parallel",
    "max_loaded_models",
    "models",
    "loaded",
    "failures",
    "keep_alive_s",
    "max_queue",
    "tags",
    "seed",
    "pull_mbps",
}

# What /api/pull can fetch when a profile has no ``catalog``: the library models the docs and
# tests pull (a pull of anything else fails as a pull of an unknown name does in Ollama).
DEFAULT_CATALOG: dict[str, Any] = {
    "qwen2.5:7b": {"size_mb": 4700, "load_s": 4.0, "prompt_tps": 1200, "gen_tps": 55},
    "llama3.1:8b": {"size_mb": 4900, "load_s": 4.5, "prompt_tps": 1100, "gen_tps": 50},
    "mistral": {"size_mb": 4100, "load_s": 4.0, "prompt_tps": 1200, "gen_tps": 55},
    "phi3:mini": {"size_mb": 2200, "load_s": 2.5, "prompt_tps": 2000, "gen_tps": 85},
    "all-minilm": {"size_mb": 46, "load_s": 0.3, "embed_dim": 384, "embed_tps": 6000},
}


def _catalog(raw: Any) -> dict[str, ModelSpec]:
    """The profile's ``catalog`` (model name → model settings), else :data:`DEFAULT_CATALOG`."""
    raw = DEFAULT_CATALOG if raw is None else raw
    if not isinstance(raw, dict):
        raise ProfileError("profile.catalog: expected a mapping of model name → settings")
    specs = (_model(f"catalog.{name}", str(name), mraw) for name, mraw in raw.items())
    return {spec.name: spec for spec in specs}


def _node(
    where: str, raw: Any, index: int, base_port: int, catalog: Mapping[str, ModelSpec]
) -> NodeSpec:
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: expected a mapping")
    unknown = set(raw) - _NODE_KEYS
    if unknown:
        raise ProfileError(f"{where}: unknown keys {sorted(unknown)}")
    try:
        name = validate_host_name(str(raw.get("name", f"node-{index}")))
    except ValueError as exc:
        raise ProfileError(f"{where}.name: {exc}") from None
    models_raw = raw.get("models") or {}
    if not isinstance(models_raw, dict) or not models_raw:
        raise ProfileError(f"{where}.models: a node needs at least one installed model")
    models = {}
    for mname, mraw in models_raw.items():
        spec = _model(f"{where}.models.{mname}", str(mname), mraw)
        models[spec.name] = spec
    loaded = tuple(normalize_model(str(m)) for m in raw.get("loaded") or ())
    for m in loaded:
        if m not in models:
            raise ProfileError(f"{where}.loaded: {m!r} is not among the node's models")
    vram = _num(f"{where}.vram_mb", raw.get("vram_mb", 24576))
    tags = tuple(str(t) for t in raw.get("tags") or (("gpu",) if vram > 0 else ("cpu",)))
    return NodeSpec(
        name=name,
        port=int(_num(f"{where}.port", raw.get("port", base_port + index), 1, 65535)),
        models=models,
        vram_mb=vram,
        num_parallel=int(_num(f"{where}.num_parallel", raw.get("num_parallel", 4), 1)),
        max_loaded_models=int(
            _num(f"{where}.max_loaded_models", raw.get("max_loaded_models", 3), 1)
        ),
        loaded=loaded,
        failures=_failures(f"{where}.failures", raw.get("failures")),
        keep_alive_s=_num(f"{where}.keep_alive_s", raw.get("keep_alive_s", 300)),
        max_queue=int(_num(f"{where}.max_queue", raw.get("max_queue", 512), 1)),
        tags=tags,
        seed=int(_num(f"{where}.seed", raw.get("seed", index), 0)),
        pull_mbps=_num(f"{where}.pull_mbps", raw.get("pull_mbps", 1000), lo=1e-3),
        catalog={**catalog, **models},
    )


def parse_profile(
    data: Any, base_port: int = DEFAULT_BASE_PORT, time_scale: float | None = None
) -> FleetProfile:
    """Validate a decoded YAML/JSON profile; errors name the offending path (``nodes[1]...``)."""
    if not isinstance(data, dict):
        raise ProfileError("profile: expected a mapping with a 'nodes' list")
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise ProfileError("profile.nodes: expected a non-empty list of nodes")
    catalog = _catalog(data.get("catalog"))
    nodes = tuple(_node(f"nodes[{i}]", n, i, base_port, catalog) for i, n in enumerate(nodes_raw))
    names = [n.name for n in nodes]
    ports = [n.port for n in nodes]
    if len(set(names)) != len(names):
        raise ProfileError(f"profile.nodes: duplicate node names in {names}")
    if len(set(ports)) != len(ports):
        raise ProfileError(f"profile.nodes: duplicate ports in {ports}")
    scale = _num("profile.time_scale", data.get("time_scale", 1.0), lo=1e-4)
    if time_scale is not None:
        scale = _num("time_scale", time_scale, lo=1e-4)
    return FleetProfile(nodes=nodes, time_scale=scale)


def load_profile(
    path: str | Path, base_port: int = DEFAULT_BASE_PORT, time_scale: float | None = None
) -> FleetProfile:
    """Read and validate a YAML fleet profile file."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{p}: no such profile file") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{p}: not valid YAML: {exc}") from None
    return parse_profile(data, base_port=base_port, time_scale=time_scale)


def uniform_profile(
    nodes: int, base_port: int = DEFAULT_BASE_PORT, time_scale: float = 1.0
) -> FleetProfile:
    """``sollol sim --nodes N``: N identical GPU nodes with a chat model loaded, a coder, a
    thinking model (qwen3), a vision model (gemma3) and an embedder installed."""
    data = {
        "time_scale": time_scale,
        "nodes": [
            {
                "name": f"sim-{i}",
                "vram_mb": 24576,
                "num_parallel": 4,
                "models": {
                    "llama3.2": {"size_mb": 2000, "load_s": 2.5, "prompt_tps": 2000, "gen_tps": 90},
                    "qwen2.5-coder:7b": {
                        "size_mb": 4700,
                        "load_s": 4.0,
                        "prompt_tps": 1200,
                        "gen_tps": 55,
                    },
                    "qwen3:4b": {"size_mb": 2600, "load_s": 3.0, "prompt_tps": 2000, "gen_tps": 80},
                    "gemma3:4b": {
                        "size_mb": 3300,
                        "load_s": 3.5,
                        "prompt_tps": 1800,
                        "gen_tps": 75,
                    },
                    "nomic-embed-text": {
                        "size_mb": 300,
                        "load_s": 0.5,
                        "embed_dim": 768,
                        "embed_tps": 4000,
                    },
                },
                "loaded": ["llama3.2"],
            }
            for i in range(nodes)
        ],
    }
    return parse_profile(data, base_port=base_port)
