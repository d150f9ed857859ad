"""The router's vocabulary: frozen dataclasses in (request profile, fleet snapshot), a Decision out.

Everything here is plain data: no I/O, no clock, no randomness. The gateway builds a
:class:`FleetSnapshot` from Redis, the policy simulator in ``bench/`` builds one from its own
model of the fleet, and both hand it to the same routing code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sollol.router.prefix import PrefixRecord

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

PRIORITY_LEVELS = 10  # SOLLOL priorities are 1..10, 10 = critical

_EMPTY: Mapping[Any, Any] = MappingProxyType({})


def _frozen_map() -> Mapping[Any, Any]:
    return _EMPTY


@dataclass(frozen=True, slots=True)
class ModelStats:
    """What a host has measured for one model, as decaying averages (EWMA) of Ollama's own timings.

    ``None`` means no sample yet; scorers then fall back to fleet-wide or profile-free defaults.
    """

    prompt_tps: float | None = None  # prompt tokens/s = prompt_eval_count / prompt_eval_duration
    gen_tps: float | None = None  # generated tokens/s = eval_count / eval_duration
    load_s: float | None = None  # seconds to load the model when it was not resident
    success_rate: float = 1.0  # EWMA of 1 (answered) / 0 (failed), in [0, 1]
    samples: int = 0


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """One model resident on a host, as Ollama's ``/api/ps`` reports it."""

    name: str  # normalized, e.g. "llama3.2:latest"
    size_mb: float = 0.0
    on_gpu: bool = True  # size_vram > 0
    expires_in_s: float | None = None  # until keep-alive unloads it; None = never / unknown
    context_length: int | None = None  # the instance's num_ctx (/api/ps); None = unknown


@dataclass(frozen=True, slots=True)
class HostState:
    """One host (one Ollama behind one Celery worker/queue) at snapshot time."""

    name: str
    installed: Mapping[str, float] = field(default_factory=_frozen_map)  # model → size_mb
    loaded: tuple[LoadedModel, ...] = ()
    slots: int = 4  # parallel requests per loaded model (worker concurrency = OLLAMA_NUM_PARALLEL)
    max_loaded_models: int = 3
    vram_mb: float = 0.0  # 0 = unknown
    running: int = 0  # requests executing on this host now
    running_by_model: Mapping[str, int] = field(default_factory=_frozen_map)
    queued: tuple[int, ...] = (0,) * PRIORITY_LEVELS  # queued[p - 1]: messages waiting at p
    stats: Mapping[str, ModelStats] = field(default_factory=_frozen_map)  # model → learned rates
    health: str = "healthy"  # healthy | degraded | down
    circuit: str = "closed"  # closed | open | half_open
    tags: frozenset[str] = frozenset()  # "gpu", "cpu", specializations such as "code"
    success_rate: float = 1.0  # host-wide EWMA in [0, 1]
    # model → what it can do ("tools", "vision", "thinking", …) as /api/tags reports it;
    # a model missing here reports nothing (an older Ollama) and is not filtered
    capabilities: Mapping[str, frozenset[str]] = field(default_factory=_frozen_map)

    def is_loaded(self, model: str) -> bool:
        for m in self.loaded:  # noqa: SIM110 (hot path: any() over a generator costs 2× here)
            if m.name == model:
                return True
        return False

    def queued_at_or_above(self, priority: int) -> int:
        """Messages that a worker will take before a new message of ``priority`` (1..10)."""
        return sum(self.queued[priority - 1 :])

    @property
    def queued_total(self) -> int:
        return sum(self.queued)


@dataclass(frozen=True, slots=True)
class FleetSnapshot:
    """The whole fleet as the router sees it for one decision."""

    hosts: tuple[HostState, ...]
    now: float = 0.0  # the reader's clock in seconds; only used for relative expiry math
    affinity: Mapping[str, str] = field(default_factory=_frozen_map)  # session key → host
    # learned typical output length: (model, task_type) → tokens
    output_tokens: Mapping[tuple[str, str], float] = field(default_factory=_frozen_map)
    # host → the prompts the gateway recently dispatched there (sollol.router.prefix)
    prefixes: Mapping[str, PrefixRecord] = field(default_factory=_frozen_map)

    def host(self, name: str) -> HostState | None:
        return next((h for h in self.hosts if h.name == name), None)


@dataclass(frozen=True, slots=True)
class RequestProfile:
    """What the router needs to know about one request; built by ``analyse_request``."""

    model: str  # normalized model name
    endpoint: str = "chat"  # chat | generate | embed | embeddings
    task_type: str = "generation"  # generation, chat, embedding, classification, extraction,
    #                                summarization, analysis, code
    complexity: str = "medium"  # low | medium | high
    prompt_tokens: int = 0  # estimate
    output_tokens: int | None = None  # options.num_predict when the client fixed it
    priority: int = 5  # 1..10, 10 = critical
    conversation_depth: int = 0  # number of earlier turns in a chat
    session_key: str | None = None  # stable id of a conversation prefix, for prompt-cache affinity
    needs_gpu: bool = False
    input_count: int = 1  # texts in an embedding batch
    needs: frozenset[str] = frozenset()  # capabilities beyond completion: tools, vision, thinking
    prefix_blocks: tuple[int, ...] = ()  # chained hashes of the prompt's blocks (router.prefix)
    num_ctx: int | None = None  # options.num_ctx when the client set it


@dataclass(frozen=True, slots=True)
class Alternative:
    """A host the router could have picked, with its score and predicted completion time."""

    host: str
    score: float
    predicted_ms: float


@dataclass(frozen=True, slots=True)
class Decision:
    """The router's answer: where to send the request and why."""

    host: str
    score: float  # in [0, 1]
    strategy: str
    predicted_ms: float  # predicted completion on ``host``: queue + load + prompt + generation
    factors: Mapping[str, float] = field(default_factory=_frozen_map)  # factor → value in [0, 1]
    reasoning: str = ""
    alternatives: tuple[Alternative, ...] = ()
