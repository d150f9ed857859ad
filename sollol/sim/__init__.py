"""A fleet of simulated Ollama nodes: real HTTP servers speaking Ollama's API, for tests and
benchmarks.

Start one in-process with :class:`SimFleet` (background thread) or :class:`AsyncSimFleet` (your
event loop), or from the command line with ``sollol sim``. Timing comes from
:mod:`sollol.sim.physics`, which the discrete-event benchmark in ``bench/`` shares.
"""

from sollol.sim.faults import FAULT_MODES, FaultMode
from sollol.sim.fleet import AsyncSimFleet, SimFleet
from sollol.sim.ledger import REQUEST_ID_HEADER
from sollol.sim.node import SimNode
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
