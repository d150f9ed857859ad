"""Turning a call's events into HTTP responses: NDJSON streams, single JSON bodies, routing metadata."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any

from flask import Response

from sollol.api.call import Call
from sollol.api.errors import GatewayError
from sollol.api.lifecycle import CallLifecycle, Event
from sollol.wire import EventKind

__all__ = [
    "final_object",
    "json_response",
    "ndjson_response",
    "routing_meta",
    "stream_response",
    "with_routing",
]

_COMPACT = (",", ":")
Render = Callable[[Event], Iterable[bytes]]  # one event of the answer -> bytes to send
RenderError = Callable[[GatewayError], Iterable[bytes]]  # a failure after the first byte


def routing_meta(call: Call) -> dict[str, Any]:
    """``_sollol_routing``: where the request ran and why (a contract, see the README)."""
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
        **({"continued_from": call.continued_from} if call.continued_from else {}),
        **(
            {"priority_capped_from": call.priority_capped_from}
            if call.priority_capped_from is not None
            else {}
        ),
    }


def with_routing(data: bytes, call: Call) -> dict[str, Any]:
    """The final JSON object of an answer with ``_sollol_routing`` added."""
    obj: dict[str, Any] = json.loads(data) if data else {}
    obj["_sollol_routing"] = routing_meta(call)
    return obj


def _headers(call: Call) -> dict[str, str]:
    return {"X-SOLLOL-Host": call.host, "X-SOLLOL-Request-Id": call.request_id}


class _StreamBody:
    """The WSGI iterable of a streamed answer. The server calls :meth:`close` when the answer
    ended or the client went away; it closes the call (its single finish)."""

    def __init__(self, lc: CallLifecycle, render: Render, render_error: RenderError) -> None:
        self.lc = lc
        self._chunks = self._generate(render, render_error)

    def _generate(self, render: Render, render_error: RenderError) -> Generator[bytes, None, None]:
        try:
            for event in self.lc.events():
                yield from render(event)
        except GatewayError as err:  # after the first byte: the protocol's own error ending
            yield from render_error(err)

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        self.lc.close()


def stream_response(
    lc: CallLifecycle,
    render: Render,
    render_error: RenderError,
    content_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """A streamed answer. The first event is awaited before the status is sent (like Ollama):
    a failure before it raises (an HTTP error); one after it is rendered by ``render_error``."""
    lc.first()
    return Response(
        _StreamBody(lc, render, render_error),
        status=200,
        content_type=content_type,
        headers={**_headers(lc.call), **(headers or {})},
    )


def ndjson_response(lc: CallLifecycle) -> Response:
    """Stream Ollama NDJSON; a failure after the first line is Ollama's final error line."""

    def render(event: Event) -> list[bytes]:
        return [_line(event, lc.call)]

    def render_error(err: GatewayError) -> list[bytes]:
        return [json.dumps({"error": err.message}, separators=_COMPACT).encode() + b"\n"]

    return stream_response(lc, render, render_error, "application/x-ndjson")


def _line(ev: Event, call: Call) -> bytes:
    kind, data = ev
    if kind == EventKind.FINAL:
        return json.dumps(with_routing(data, call), separators=_COMPACT).encode() + b"\n"
    return data + b"\n"


def json_response(obj: Any, call: Call | None = None, status: int = 200) -> Response:
    body = json.dumps(obj, separators=_COMPACT)
    return Response(
        body,
        status=status,
        content_type="application/json; charset=utf-8",
        headers=_headers(call) if call else None,
    )


def final_object(lc: CallLifecycle) -> dict[str, Any]:
    """The answer of a non-streamed request as one object, with routing metadata."""
    return with_routing(lc.join(), lc.call)
