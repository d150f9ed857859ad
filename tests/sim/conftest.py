"""Simulated fleets on free loopback ports, started for a test (or a module) and always stopped.

Timings use a small ``time_scale`` so a "2 s" model load takes 40 ms of wall time; assertions on
time use generous ratios because the test machine is shared and noisy.
"""

from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from sollol.sim import FleetProfile, SimFleet, parse_profile
from tests.helpers import wait_for

# wait_for lives in tests.helpers; the sim tests import it from here
__all__ = ["get_json", "make_profile", "node", "start_reading", "wait_for"]

TIME_SCALE = 0.02
CHAT = {"size_mb": 2000, "load_s": 2.0, "prompt_tps": 2000, "gen_tps": 400}
CODER = {"size_mb": 4700, "load_s": 4.0, "prompt_tps": 1200, "gen_tps": 200}
EMBED = {"size_mb": 300, "load_s": 0.5, "embed_dim": 64, "embed_tps": 8000}


def make_profile(nodes: list[dict[str, Any]], time_scale: float = TIME_SCALE) -> FleetProfile:
    """A validated profile whose nodes listen on free ports (port 0, resolved at start)."""
    profile = parse_profile({"time_scale": time_scale, "nodes": nodes})
    return dataclasses.replace(
        profile, nodes=tuple(dataclasses.replace(n, port=0) for n in profile.nodes)
    )


def node(name: str, **overrides: Any) -> dict[str, Any]:
    """A GPU node with a chat model (loaded), a coder model and an embedder installed."""
    spec: dict[str, Any] = {
        "name": name,
        "vram_mb": 24576,
        "num_parallel": 4,
        "max_loaded_models": 3,
        "models": {"llama3.2": CHAT, "qwen2.5-coder:7b": CODER, "nomic-embed-text": EMBED},
        "loaded": ["llama3.2"],
    }
    spec.update(overrides)
    return spec


@pytest.fixture(scope="module")
def fleet() -> Iterator[SimFleet]:
    """Two ordinary nodes shared by the protocol tests of one module (they do not change state
    that other tests rely on, except loading models, which they never assume absent)."""
    with SimFleet(make_profile([node("node-a"), node("node-b")]), control_port=0) as f:
        yield f


@pytest.fixture
def url(fleet: SimFleet) -> str:
    return fleet.urls["node-a"]


@pytest.fixture
def start_fleet() -> Iterator[Callable[..., SimFleet]]:
    """Start a fleet from node dicts for one test; stopped at the end whatever happens."""
    started: list[SimFleet] = []

    def start(
        *nodes: dict[str, Any], time_scale: float = TIME_SCALE, control: bool = True
    ) -> SimFleet:
        f = SimFleet(make_profile(list(nodes), time_scale), control_port=0 if control else None)
        started.append(f.start())
        return f

    yield start
    for f in started:
        f.stop()


def get_json(url: str, timeout: float = 10) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read())


def start_reading(response: httpx.Response) -> Iterator[str]:
    """Read a stream's first line; keep the returned iterator, since dropping it closes the
    response, which the server sees as the client going away."""
    lines = response.iter_lines()
    next(lines)
    return lines
