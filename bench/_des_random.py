"""Seeded random fleet profiles for bench/policy.py ``--random-fleets N``: fleets the router was
not tuned on.

Fleet ``k`` (seed ``k``) has 2–6 nodes. Each node is a CPU box (15 %) or a GPU whose speed
factor is log-uniform in [0.2, 1.5] of an RTX 4090; VRAM one of 8/12/16/24/48 GiB; 1–4 slots
(CPU: 1); 1–3 models loaded at boot among those installed. Every node installs ``llama3.2`` (so
every request class has a home) and each of the other models with probability 0.6; model rates
are the 4090's times the node's speed factor (CPU: 120/12 tokens/s for a 3B, scaled by size),
load times grow with size and slowness.
"""

from __future__ import annotations

import math
import random
from typing import Any

from sollol.sim.profile import FleetProfile, parse_profile

__all__ = ["random_fleet"]

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


def random_fleet(seed: int) -> FleetProfile:
    """The random fleet of ``seed`` (same seed, same fleet)."""
    rng = random.Random(f"fleet-{seed}")
    n = rng.randint(2, 6)
    nodes = [_node(rng, i) for i in range(n)]
    if all(nd["tags"] == ["cpu"] for nd in nodes):  # at least one GPU
        nodes[0] = _node(random.Random(f"fleet-{seed}-gpu"), 0)
        nodes[0]["tags"], nodes[0]["name"] = ["gpu"], "gpu-0"
    return parse_profile({"time_scale": 1.0, "nodes": nodes})


def summary(profile: FleetProfile) -> str:
    """One line per fleet: node kind, slots, GPU speed (llama3.2 gen tokens/s), loaded models."""
    parts = []
    for n in profile.nodes:
        gen = n.models["llama3.2:latest"].gen_tps
        parts.append(f"{n.name}×{n.num_parallel} {gen:.0f}t/s [{','.join(n.loaded)}]")
    return "; ".join(parts)
