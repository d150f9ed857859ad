"""One client request on its way through the fleet, and the limits every attempt obeys."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sollol.api.client_probe import still_there
from sollol.api.errors import GatewayError
from sollol.router import Decision, RequestProfile

__all__ = ["Call", "not_found_message"]


@dataclass
class Call:
    """One client request on its way through the fleet."""

    endpoint: str  # chat | generate | embed | embeddings | show
    body: dict[str, Any]  # the native Ollama body sent to the host
    profile: RequestProfile
    model_label: str  # the model name as the client spelled it (for error messages)
    client_streams: bool = True  # False: the worker joins the answer and sends it once
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 0
    tried: list[str] = field(default_factory=list)
    decision: Decision | None = None
    host: str = ""
    t0: float = field(default_factory=time.monotonic)
    dispatched_at: float = 0.0
    started_at: float | None = None
    queue_wait_ms: float = 0.0
    content_sent: bool = False
    first_chunk_at: float | None = None  # monotonic time the first output chunk arrived
    timings: dict[str, int] = field(default_factory=dict)  # Ollama's *_count/*_duration (ns)
    finished: bool = False
    # a continued answer (sollol/api/continuation.py): the job sent instead of endpoint/body,
    # and the attempts that died mid-answer ({"host", "attempt", "tokens", "why"} each)
    job_endpoint: str = ""
    job_body: dict[str, Any] | None = None
    continued_from: list[dict[str, Any]] = field(default_factory=list)
    last_error: GatewayError | None = None
    # API keys (sollol/api/auth.py): who asked, fair share by this name, usage charged to it
    tenant: str = ""
    usage: Any = None  # the request's auth.Tenant, whose ``tokens`` the final answer adds to
    priority_capped_from: int | None = None  # the priority asked for, when the key's cap lowered it
    # True once the client closed its connection (sollol/api/client_probe.py); asked while the
    # request waits, when no write would tell
    client_gone: Callable[[], bool] = field(default=still_there, repr=False)

    @property
    def priority(self) -> int:
        return self.profile.priority


def not_found_message(endpoint: str, model: str) -> str:
    """Ollama's own wording per endpoint (docs/ollama-api.md §4)."""
    if endpoint in ("embed", "embeddings"):
        return f'model "{model}" not found, try pulling it first'
    if endpoint == "show":
        return f"model '{model}' not found"
    return f"model '{model}' not found"
