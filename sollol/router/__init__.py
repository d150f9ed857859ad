"""SOLLOL's routing engine: pure (no I/O, no clock, no global RNG). Frozen dataclasses in, a
Decision out: ``analyse_request`` → ``RequestProfile``; ``Router.route(profile, snapshot)`` →
``Decision``; workers fold Ollama's timings back with ``update_stats``.

A decision is filter → score → pick: ``filters`` drop hosts that cannot serve, the ``Estimator``
predicts each candidate's completion time, named ``Scorer`` objects (``scorers``) turn that and
the host's state into factors in [0, 1] that ``Weights`` combine by name, and the strategy's
picker (``pickers``) chooses. ``Decision.factors`` carries every factor; the reasoning is
generated from the estimate and the factors.
"""

from sollol.router.analysis import analyse_request
from sollol.router.capability import capable_hosts, required_capabilities
from sollol.router.errors import MissingCapability, NoHostAvailable, RoutingError
from sollol.router.estimate import Estimator, Prediction, predict_duration_s
from sollol.router.learning import TimingSample, update_output_tokens, update_stats
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
from sollol.router.scorers import DEFAULT_SCORERS, Scorer, ScoringContext
from sollol.router.strategies import STRATEGIES, Router
from sollol.router.tuning import Tuning, Weights

__all__ = [
    "DEFAULT_SCORERS",
    "PRIORITY_LEVELS",
    "STRATEGIES",
    "Alternative",
    "Decision",
    "Estimator",
    "FleetSnapshot",
    "HostState",
    "LoadedModel",
    "MissingCapability",
    "ModelStats",
    "NoHostAvailable",
    "Prediction",
    "RequestProfile",
    "Router",
    "RoutingError",
    "Scorer",
    "ScoringContext",
    "TimingSample",
    "Tuning",
    "Weights",
    "analyse_request",
    "capable_hosts",
    "predict_duration_s",
    "required_capabilities",
    "update_output_tokens",
    "update_stats",
]
