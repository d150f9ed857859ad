"""The wire contract between gateway, workers and beat: task names, queues, jobs, stream events.

Every message that crosses a process boundary is described here, once:

    Task          Celery task names (routed requests, beat jobs, health checks)
    CONTROL_QUEUE the queue of beat jobs and chord bodies, consumed by the control worker
    Job           what the gateway publishes to a host's queue for one attempt of one request
    ModelOp       one model-management call (pull, push, create, copy, delete) on one host
    EventKind     the kind of an entry of a request's Redis stream (field ``k``)
    ErrorReason   why an attempt failed, as the worker reports it in an ``error`` entry
    StartInfo     the ``d`` field of a ``start`` entry
    ErrorInfo     the ``d`` field of an ``error`` entry
    Verdict       whether a worker may run an attempt it received

Everything is JSON (Celery's JSON serializer, Redis stream fields): ``to_json`` gives the JSON
object, ``from_json`` reads one back, filling the defaults an older message may lack.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CONTROL_QUEUE",
    "TERMINAL_KINDS",
    "ErrorInfo",
    "ErrorReason",
    "EventKind",
    "Job",
    "ModelOp",
    "StartInfo",
    "Task",
    "Verdict",
    "compact_json",
]

CONTROL_QUEUE = "sollol"  # beat jobs and chord bodies; consumed by the control worker


class Task(enum.StrEnum):
    """Celery task names."""

    INFER = "sollol.infer"  # one attempt of one client request, on the host's queue
    HEALTH_ROUND = "sollol.health_round"  # beat: send a health check to every host
    HEALTH_CHECK = "sollol.health_check"  # runs on the host's worker: probes its Ollama
    AGE_QUEUES = "sollol.age_queues"  # beat: promote messages that waited too long
    REROUTE = "sollol.reroute"  # beat: move messages off dead hosts' queues
    REFRESH = "sollol.refresh"  # beat: forget hosts whose record expired
    BATCH_EMBED_CHUNK = "sollol.batch.embed_chunk"  # one chunk of a batch job, on a host's queue
    BATCH_ROUND_DONE = "sollol.batch.round_done"  # a round's chord body, on the control queue
    BATCH_TICK = "sollol.batch.tick"  # beat: cut batch embedding jobs into rounds
    MODEL_OP = "sollol.models.op"  # pull/push/create/copy/delete on the host's queue (ModelOp)
    PLACEMENT = "sollol.placement"  # beat: pre-load hot models where they have room


class EventKind(enum.StrEnum):
    """Kinds of request-stream entries, in the order a worker writes them."""

    START = "start"  # a worker began the attempt; data = StartInfo
    CHUNK = "chunk"  # NDJSON lines from Ollama, verbatim, joined by "\n" (not the last)
    TICK = "tick"  # the worker is alive (while it joins an answer sent in one piece)
    FINAL = "final"  # the last line, the joined answer, or a non-streamed endpoint's body
    ERROR = "error"  # the attempt failed; data = ErrorInfo
    CANCELLED = "cancelled"  # the worker stopped because the client went away


TERMINAL_KINDS = frozenset({EventKind.FINAL, EventKind.ERROR, EventKind.CANCELLED})


class ErrorReason(enum.StrEnum):
    """Why an attempt failed; decides failover and circuit-breaker feedback on the gateway."""

    HOST = "host"  # the host is unreachable, busy or broken: try another, count a failure
    MODEL_MISSING = "model_missing"  # the host does not have the model: a routing fact
    CLIENT = "client"  # the request itself is wrong (Ollama's 4xx): never retried
    UPSTREAM = "upstream"  # Ollama failed while answering (or a worker bug)
    CANCELLED = "cancelled"  # the client went away

    @property
    def blames_host(self) -> bool:
        """True when the failure counts against the host's circuit breaker."""
        return self in (ErrorReason.HOST, ErrorReason.UPSTREAM)


class Verdict(enum.StrEnum):
    """Whether a worker may run an attempt (the answer of the atomic begin step)."""

    OK = "ok"
    DUPLICATE = "duplicate"  # this attempt already ended: a redelivered message
    SUPERSEDED = "superseded"  # a later attempt exists (the gateway failed over)
    CANCELLED = "cancelled"  # the client went away before the attempt began


def compact_json(obj: Any) -> str:
    """JSON without spaces, the form written to streams and Redis records."""
    return json.dumps(obj, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt of one client request, as published to a host's queue (Task.INFER's 2nd arg).

    ``body`` is the native Ollama request body; ``priority`` is SOLLOL's 1-10 (10 = critical);
    ``enqueued_at`` is epoch seconds; ``stream`` False means the worker joins the answer.
    """

    endpoint: str  # chat | generate | embed | embeddings | show
    body: Mapping[str, Any]
    host: str
    model: str
    attempt: int = 1
    task_type: str = "generation"
    priority: int = 5
    stream: bool = True
    enqueued_at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        # by hand, not dataclasses.asdict: that deep-copies the body on every request
        return {
            "endpoint": self.endpoint,
            "body": self.body,
            "host": self.host,
            "model": self.model,
            "attempt": self.attempt,
            "task_type": self.task_type,
            "priority": self.priority,
            "stream": self.stream,
            "enqueued_at": self.enqueued_at,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Job:
        return cls(
            endpoint=str(obj.get("endpoint", "chat")),
            body=obj.get("body") or {},
            host=str(obj.get("host", "")),
            model=str(obj.get("model", "")),
            attempt=int(obj.get("attempt", 1)),
            task_type=str(obj.get("task_type", "generation")),
            priority=int(obj.get("priority", 5)),
            stream=bool(obj.get("stream", True)),
            enqueued_at=float(obj.get("enqueued_at", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class ModelOp:
    """One model-management call on one host (Task.MODEL_OP's 2nd arg). ``op`` is pull | push |
    create | copy | delete; ``body`` is Ollama's request body; progress lines go to ``stream``
    (chunk entries, one progress line each; final = the last line; error = ErrorInfo)."""

    op: str
    body: Mapping[str, Any]
    host: str
    stream: str  # the Redis stream key this host's progress goes to

    def to_json(self) -> dict[str, Any]:
        return {"op": self.op, "body": self.body, "host": self.host, "stream": self.stream}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ModelOp:
        return cls(
            op=str(obj.get("op", "")),
            body=obj.get("body") or {},
            host=str(obj.get("host", "")),
            stream=str(obj.get("stream", "")),
        )


@dataclass(frozen=True, slots=True)
class StartInfo:
    """The data of a ``start`` entry: who runs the attempt."""

    host: str
    worker: str
    attempt: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> StartInfo:
        return cls(str(obj.get("host", "")), str(obj.get("worker", "")), int(obj.get("attempt", 1)))


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """The data of an ``error`` entry. ``status`` is the HTTP status to answer (Ollama's own);
    ``chunks`` how many chunks the attempt had streamed before it failed."""

    status: int
    error: str
    reason: ErrorReason = ErrorReason.UPSTREAM
    retryable: bool = False
    chunks: int = field(default=0)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["reason"] = str(self.reason)
        return out

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> ErrorInfo:
        try:
            reason = ErrorReason(str(obj.get("reason", "host")))
        except ValueError:
            reason = ErrorReason.HOST
        return cls(
            status=int(obj.get("status", 502)),
            error=str(obj.get("error", "upstream error")),
            reason=reason,
            retryable=bool(obj.get("retryable", False)),
            chunks=int(obj.get("chunks", 0)),
        )
