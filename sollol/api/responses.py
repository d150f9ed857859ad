"""Turning a call's events into HTTP responses: NDJSON streams, single JSON bodies, routing metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response

from sollol.api.call import Call
from sollol.api.errors import GatewayError

__all__ = ["final_object", "json_response", "ndjson_response", "routing_meta"]

Events = Iterator[tuple[str, bytes]]
_COMPACT = (",", ":")


def routing_meta(call: Call) -> dict[str, Any]:
    """``_sollol_routing``: where the request ran and why (DESIGN.md contract)."""
    d, p = call.decision, call.profile
    return {
        "host": call.host,
        "task_type": p.task_type,
        "complexity": p.complexity,
        "priority": p.priority,
        "decision_score": round(d.score, 4) if d else None,
        "reasoning": d.reasoning if d else "",
        "alternatives": [
            {"host": a.host, "score": round(a.score, 4), "predicted_ms": round(a.predicted_ms, 1)}
            for a in (d.alternatives if d else ())
        ],
        "attempts": call.attempt,
        "queue_wait_ms": round(call.queue_wait_ms, 2),
        "actual_duration_ms": round((time.monotonic() - call.t0) * 1000, 2),
        "predicted_ms": round(d.predicted_ms, 1) if d else None,
        "strategy": d.strategy if d else "",
        "request_id": call.request_id,
    }


def _with_routing(data: bytes, call: Call) -> dict[str, Any]:
    obj: dict[str, Any] = json.loads(data) if data else {}
    obj["_sollol_routing"] = routing_meta(call)
    return obj


def _headers(call: Call) -> dict[str, str]:
    return {"X-SOLLOL-Host": call.host, "X-SOLLOL-Request-Id": call.request_id}


def ndjson_response(call: Call, events: Events, on_close: Callable[[], None]) -> Response:
    """Stream Ollama NDJSON. The first line is awaited before the status is sent, like Ollama does."""
    first = next(events)  # errors before any output propagate as a proper HTTP error

    def body() -> Iterator[bytes]:
        try:
            yield _line(first, call)
            if first[0] == "final":
                return
            for ev in events:
                yield _line(ev, call)
        except GatewayError as err:  # after the first line: Ollama's final error line
            yield json.dumps({"error": err.message}, separators=_COMPACT).encode() + b"\n"
        finally:
            on_close()

    return Response(body(), status=200, content_type="application/x-ndjson", headers=_headers(call))


def _line(ev: tuple[str, bytes], call: Call) -> bytes:
    kind, data = ev
    if kind == "final":
        return json.dumps(_with_routing(data, call), separators=_COMPACT).encode() + b"\n"
    return data + b"\n"


def json_response(obj: Any, call: Call | None = None, status: int = 200) -> Response:
    body = json.dumps(obj, separators=_COMPACT)
    return Response(
        body,
        status=status,
        content_type="application/json; charset=utf-8",
        headers=_headers(call) if call else None,
    )


def final_object(call: Call, events: Events) -> dict[str, Any]:
    """The body of a non-streamed endpoint (embed, embeddings, show) with routing metadata."""
    for kind, data in events:
        if kind == "final":
            return _with_routing(data, call)
    raise GatewayError("the host ended the request without an answer", 502)
