"""Seeded random fleet profiles for bench/policy.py ``--random-fleets N``: fleets the router was
not tuned on.

Fleet ``k`` (seed ``k``) has 2–6 nodes. Each node is a CPU box (15 %) or a GPU whose speed
factor is log-uniform in [0.2, 1.5] of an RTX 4090; VRAM one of 8/12/16/24/48 GiB; 1–4 slots
(CPU: 1); 1–3 models loaded at boot among those installed. Every node installs ``llama3.2`` (so
every request class has a home) and each of the other models with probability 0.6; model rates
are the 4090's times the node's speed factor (CPU: 120/12 tokens/s for a 3B, scaled by size),
load times grow with size and slowness.

A drawn fleet on which no set of resident models serves every request class at once (two
classes whose models only one node installs and cannot hold together, so it would swap them
for ever) is drawn again from the next sub-seed: such a fleet is overloaded at any load
whatever the router does (bench/_des_capacity.py). Named fleets have negative seeds:
``-1`` is :data:`UNLIKE`, the unlike fleet of issue 15's live runs (a fast 4-slot GPU with most
models resident, two mid GPUs with one model each, a CPU box).
"""

from __future__ import annotations

import math
import random
from typing import Any

from sollol.sim.profile import FleetProfile, parse_profile

__all__ = ["NAMED", "UNLIKE", "fleet_name", "random_fleet"]

# name → (size_mb, load_s, prompt_tps, gen_tps) on a fast GPU (embedder: embed_tps as prompt_tps)
MODELS: dict[str, tuple[float, float, float, float]] = {
    "llama3.2": (2000, 2.0, 4000, 120),
    "llama3.1:8b": (4900, 3.5, 2500, 85),
    "qwen2.5-coder:7b": (4700, 3.5, 2600, 88),
    "nomic-embed-text": (300, 0.5, 8000, 0),
}
VRAM_GIB = (8, 12, 16, 24, 48)


def _model(name: str, speed: float, cpu: bool) -> dict[str, Any]:
    size, load, prompt, gen = MODELS[name]
    if name == "nomic-embed-text":
        return {
            "size_mb": size,
            "load_s": load / speed,
            "embed_dim": 768,
            "embed_tps": prompt * (0.1 if cpu else speed),
            "capabilities": ["embedding"],
        }
    factor = 0.03 * 2000 / size if cpu else speed
    return {
        "size_mb": size,
        "load_s": round(load * (2.0 if cpu else 1.0 / math.sqrt(speed)), 2),
        "prompt_tps": round(prompt * factor, 1),
        "gen_tps": round(max(3.0, gen * (0.1 * 2000 / size if cpu else speed)), 1),
        "capabilities": ["completion", "tools"],
    }


def _node(rng: random.Random, i: int) -> dict[str, Any]:
    cpu = rng.random() < 0.15
    speed = math.exp(rng.uniform(math.log(0.2), math.log(1.5)))
    vram = 0 if cpu else rng.choice(VRAM_GIB) * 1024
    names = ["llama3.2"] + [m for m in MODELS if m != "llama3.2" and rng.random() < 0.6]
    budget = vram or 32768
    fitting = [m for m in names if MODELS[m][0] <= budget]
    rng.shuffle(fitting)
    loaded, used = [], 0.0
    for m in fitting[: rng.randint(1, 3)]:
        if used + MODELS[m][0] <= budget:
            loaded.append(m)
            used += MODELS[m][0]
    return {
        "name": f"{'cpu' if cpu else 'gpu'}-{i}",
        "port": 12000 + i,
        "vram_mb": vram,
        "num_parallel": 1 if cpu else rng.randint(1, 4),
        "max_loaded_models": rng.randint(max(1, len(loaded)), 3),
        "tags": ["cpu"] if cpu else ["gpu"],
        "models": {m: _model(m, speed, cpu) for m in names},
        "loaded": loaded or ["llama3.2"],
    }


def _draw(tag: str) -> FleetProfile:
    rng = random.Random(tag)
    n = rng.randint(2, 6)
    nodes = [_node(rng, i) for i in range(n)]
    if all(nd["tags"] == ["cpu"] for nd in nodes):  # at least one GPU
        nodes[0] = _node(random.Random(f"{tag}-gpu"), 0)
        nodes[0]["tags"], nodes[0]["name"] = ["gpu"], "gpu-0"
    return parse_profile({"time_scale": 1.0, "nodes": nodes})


def _servable(profile: FleetProfile) -> bool:
    """Some choice of resident sets, one per node, holds every installed model."""
    from _des_capacity import resident_sets  # imports the workload, which imports _des

    wanted = {m for n in profile.nodes for m in n.models}
    covered: set[frozenset[str]] = {frozenset()}
    for node in profile.nodes:
        covered = {c | s for c in covered for s in resident_sets(node)}
    return any(c >= wanted for c in covered)


def _gpu(
    name: str, port: int, speed: float, slots: int, vram_gib: int, loaded: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "port": port,
        "vram_mb": vram_gib * 1024,
        "num_parallel": slots,
        "max_loaded_models": max(2, len(loaded)),
        "tags": ["gpu"],
        "models": {m: _model(m, speed, False) for m in MODELS},
        "loaded": loaded,
    }


# A fast 4-slot GPU with most models resident, two mid GPUs with one model each, a CPU box.
UNLIKE: dict[str, Any] = {
    "time_scale": 1.0,
    "nodes": [
        _gpu("gpu-fast", 12101, 1.0, 4, 24, ["llama3.2", "llama3.1:8b", "qwen2.5-coder:7b"]),
        _gpu("gpu-mid-a", 12102, 0.55, 2, 12, ["llama3.2"]),
        _gpu("gpu-mid-b", 12103, 0.5, 2, 12, ["qwen2.5-coder:7b"]),
        {
            "name": "cpu-box",
            "port": 12199,
            "vram_mb": 0,
            "num_parallel": 1,
            "max_loaded_models": 2,
            "tags": ["cpu"],
            "models": {m: _model(m, 1.0, True) for m in ("llama3.2", "nomic-embed-text")},
            "loaded": ["llama3.2", "nomic-embed-text"],
        },
    ],
}
NAMED = {-1: ("unlike", UNLIKE)}


def fleet_name(seed: int) -> str:
    return NAMED[seed][0] if seed in NAMED else str(seed)


def random_fleet(seed: int) -> FleetProfile:
    """The random fleet of ``seed`` (same seed, same fleet); a named one for a negative seed."""
    if seed in NAMED:
        return parse_profile(NAMED[seed][1])
    for attempt in range(100):
        profile = _draw(f"fleet-{seed}" if attempt == 0 else f"fleet-{seed}-{attempt}")
        if _servable(profile):
            return profile
    raise ValueError(f"no servable fleet drawn for seed {seed}")


def summary(profile: FleetProfile) -> str:
    """One line per fleet: node kind, slots, GPU speed (llama3.2 gen tokens/s), loaded models."""
    parts = []
    for n in profile.nodes:
        gen = n.models["llama3.2:latest"].gen_tps
        parts.append(f"{n.name}×{n.num_parallel} {gen:.0f}t/s [{','.join(n.loaded)}]")
    return "; ".join(parts)
