"""The load of bench/policy.py's random fleets: per-class capacity (a linear programme over
classes × nodes), fleets that can hold every class's model, and the flags that pick loads."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from sollol.sim.profile import parse_profile

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import policy
from _des_capacity import _means, _service_s, class_capacity, resident_sets
from _des_random import random_fleet
from _des_workload import served_classes


def _node(name: str, port: int, models: dict[str, dict[str, object]], **kw: object) -> dict:
    return {
        "name": name,
        "port": port,
        "vram_mb": kw.get("vram_mb", 24576),
        "num_parallel": kw.get("slots", 2),
        "max_loaded_models": kw.get("max_loaded", 3),
        "tags": ["gpu"],
        "models": models,
        "loaded": list(models),
    }


CHAT = {"size_mb": 2000, "load_s": 2, "prompt_tps": 4000, "gen_tps": 120}
CODER_SLOW = {"size_mb": 4700, "load_s": 3, "prompt_tps": 100, "gen_tps": 5}


def test_a_class_served_by_one_slow_node_bounds_the_whole_mix() -> None:
    fleet = parse_profile(
        {
            "nodes": [
                _node("fast", 1, {"llama3.2": CHAT}, slots=4),
                _node("slow", 2, {"llama3.2": CHAT, "qwen2.5-coder:7b": CODER_SLOW}, slots=1),
            ]
        }
    )
    cap = class_capacity(fleet)
    classes = {c.name: (c, s) for c, s in served_classes(fleet)}
    code, share = classes["code"]
    slow = fleet.nodes[1]
    code_time = _service_s(slow, code, *_means(code))
    # the slow node's one worker carries all the code requests (and nothing else at the optimum)
    assert cap.total * share * code_time == pytest.approx(1.0, rel=1e-6)


def test_resident_sets_respect_memory_and_model_count() -> None:
    node = parse_profile(
        {
            "nodes": [
                _node(
                    "n",
                    1,
                    {"llama3.2": CHAT, "qwen2.5-coder:7b": CODER_SLOW, "llama3.1:8b": CODER_SLOW},
                    vram_mb=8192,
                    max_loaded=2,
                )
            ]
        }
    ).nodes[0]
    sets = resident_sets(node)
    assert all(sum(node.models[m].size_mb for m in s) <= 8192 for s in sets)
    assert all(len(s) <= 2 for s in sets)
    assert not any(s >= {"llama3.1:8b", "qwen2.5-coder:7b"} for s in sets)


@pytest.mark.parametrize("seed", range(1, 21))
def test_every_random_fleet_can_serve_its_whole_mix(seed: int) -> None:
    assert class_capacity(random_fleet(seed)).total > 0


def test_the_unlike_fleet_is_named_and_fixed() -> None:
    unlike = random_fleet(-1)
    assert [n.name for n in unlike.nodes] == ["gpu-fast", "gpu-mid-a", "gpu-mid-b", "cpu-box"]
    assert len(unlike.nodes[0].loaded) == 3
    assert [len(n.loaded) for n in unlike.nodes[1:3]] == [1, 1]


def test_explicit_loads_win_over_quick() -> None:
    assert policy._args(["--quick", "--loads", "0.4,0.6,0.8"]).loads == "0.4,0.6,0.8"
    assert policy._args(["--quick"]).loads == "0.5,0.75"
    assert policy._args([]).loads.split(",")[0] == "0.25"
