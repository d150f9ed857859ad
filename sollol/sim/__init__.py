"""A fleet of simulated Ollama nodes: real HTTP servers speaking Ollama's API, for tests and
benchmarks.

Start one in-process with :class:`SimFleet` (background thread) or :class:`AsyncSimFleet` (your
event loop), or from the command line with ``sollol sim``. Timing comes from
:mod:`sollol.sim.physics`, which the discrete-event benchmark in ``bench/`` shares.

The servers (and aiohttp) are imported on first use, so ``sollol.sim.profile`` and
``sollol.sim.physics`` stay light for the launcher and the policy benchmark.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from sollol.sim.profile import (
    FailureSpec,
    FleetProfile,
    ModelSpec,
    NodeSpec,
    ProfileError,
    load_profile,
    parse_profile,
    uniform_profile,
)

if TYPE_CHECKING:
    from sollol.sim.faults import FAULT_MODES, FaultMode
    from sollol.sim.fleet import AsyncSimFleet, SimFleet
    from sollol.sim.ledger import REQUEST_ID_HEADER
    from sollol.sim.node import SimNode

__all__ = [
    "FAULT_MODES",
    "REQUEST_ID_HEADER",
    "AsyncSimFleet",
    "FailureSpec",
    "FaultMode",
    "FleetProfile",
    "ModelSpec",
    "NodeSpec",
    "ProfileError",
    "SimFleet",
    "SimNode",
    "load_profile",
    "parse_profile",
    "uniform_profile",
]

_LAZY = {
    "AsyncSimFleet": "fleet",
    "SimFleet": "fleet",
    "SimNode": "node",
    "FaultMode": "faults",
    "FAULT_MODES": "faults",
    "REQUEST_ID_HEADER": "ledger",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(f"sollol.sim.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'sollol.sim' has no attribute {name!r}")
