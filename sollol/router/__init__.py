"""SOLLOL's routing engine: pure (no I/O, no clock, no global RNG). Frozen dataclasses in, a Decision out."""

from sollol.router.model import (
    PRIORITY_LEVELS,
    Alternative,
    Decision,
    FleetSnapshot,
    HostState,
    LoadedModel,
    ModelStats,
    RequestProfile,
)

__all__ = [
    "PRIORITY_LEVELS",
    "Alternative",
    "Decision",
    "FleetSnapshot",
    "HostState",
    "LoadedModel",
    "ModelStats",
    "RequestProfile",
]
