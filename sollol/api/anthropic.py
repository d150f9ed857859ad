"""Anthropic's Messages API (``POST /v1/messages``, streamed and not) over the fleet.

The request becomes a native chat (:mod:`sollol.api.anthropic_compat`), is routed and queued like
every inference call, and the answer comes back as a ``message`` or as Anthropic's SSE events.
As in Ollama, the API key is accepted and not checked, and thinking asked of a model that cannot
think is dropped rather than refused (so agents that always ask for it work with any model).
Errors are ``{"type": "error", "error": {"type", "message"}}`` (rendered in api/errors.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from sollol.api import anthropic_compat as ac
from sollol.api.errors import BadRequest, GatewayError, protocol_error_body
from sollol.api.lifecycle import open_call
from sollol.api.openai_requests import CompatError
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import final_object, json_response
from sollol.api.services import services
from sollol.api.sse import NamedEvent, named_events_response
from sollol.names import normalize_model
from sollol.router import MissingCapability, capable_hosts

__all__ = ["bp"]

bp = Blueprint("anthropic", __name__)


@bp.post("/v1/messages")
def messages() -> Response:
    req = json_body()
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        native = ac.messages_request(req)
    except CompatError as exc:
        raise BadRequest(str(exc)) from None
    native = _relax_thinking(validated("chat", native))
    stream = req.get("stream") is True
    lc = open_call("chat", native, priority(), stream)
    msg_id, model = ac.new_message_id(), str(req["model"])
    if stream:
        return named_events_response(lc, ac.MessageStream(msg_id, model).on_line, _error_event)
    obj = final_object(lc)
    out = ac.message_response(obj, msg_id, model)
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, lc.call)


@bp.post("/v1/messages/count_tokens")
def count_tokens() -> Response:
    """Ollama's estimate of the input tokens, answered by the gateway itself (no host needed)."""
    req = json_body()
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return json_response({"input_tokens": ac.count_tokens(req)})
    except CompatError as exc:
        raise BadRequest(str(exc)) from None


def _relax_thinking(native: dict[str, Any]) -> dict[str, Any]:
    """Without ``think`` when no host's copy of the model can think (Ollama's relax_thinking)."""
    if not native.get("think"):
        return native
    hosts = services().fleet.snapshot().hosts
    try:
        capable_hosts(hosts, normalize_model(str(native["model"])), frozenset({"thinking"}))
    except MissingCapability:
        return {k: v for k, v in native.items() if k != "think"}
    return native


def _error_event(err: GatewayError) -> NamedEvent:
    return ("error", protocol_error_body(err.message, err.status, "anthropic"))
