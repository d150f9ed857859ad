"""Server-sent events with named events (``event: <name>`` + ``data: <json>``), as the Anthropic
Messages and OpenAI Responses streams use them; the final event carries ``_sollol_routing``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from flask import Response

from sollol.api.errors import GatewayError
from sollol.api.lifecycle import CallLifecycle, Event
from sollol.api.responses import routing_meta, stream_response
from sollol.wire import EventKind

__all__ = ["NamedEvent", "named_event", "named_events_response"]

NamedEvent = tuple[str, dict[str, Any]]
Convert = Callable[[dict[str, Any]], list[NamedEvent]]  # one native stream line → events
ErrorEvent = Callable[[GatewayError], NamedEvent]  # a failure after the first event


def named_event(name: str, data: dict[str, Any]) -> bytes:
    """One SSE event: ``event: name``, one compact JSON ``data`` line, a blank line."""
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def named_events_response(lc: CallLifecycle, convert: Convert, on_error: ErrorEvent) -> Response:
    """Stream a call's answer as named SSE events (``text/event-stream``)."""

    def render(event: Event) -> Iterator[bytes]:
        kind, data = event
        events = convert(json.loads(data))
        if kind == EventKind.FINAL and events:
            events[-1][1]["_sollol_routing"] = routing_meta(lc.call)
        for name, payload in events:
            yield named_event(name, payload)

    def render_error(err: GatewayError) -> list[bytes]:
        return [named_event(*on_error(err))]

    headers = {"Cache-Control": "no-cache"}
    return stream_response(lc, render, render_error, "text/event-stream", headers=headers)
