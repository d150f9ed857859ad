"""OpenAI's Responses API (``POST /v1/responses``, streamed and not) over the fleet.

Non-stateful, as Ollama serves it: every request carries the whole conversation in ``input``
(``previous_response_id`` is refused with 400). The request becomes a native chat
(:mod:`sollol.api.responses_compat`), is routed and queued like every inference call, and the
answer comes back as a ``response`` object or as ``response.*`` SSE events.
"""

from __future__ import annotations

from flask import Blueprint, Response

from sollol.api import responses_compat as rc
from sollol.api.errors import BadRequest, GatewayError, protocol_error_body
from sollol.api.lifecycle import open_call
from sollol.api.openai_requests import CompatError
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import final_object, json_response
from sollol.api.responses_stream import ResponseStream
from sollol.api.sse import NamedEvent, named_events_response

__all__ = ["bp"]

bp = Blueprint("openai_responses", __name__)


@bp.post("/v1/responses")
def create_response() -> Response:
    req = json_body()
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        native = validated("chat", rc.responses_request(req))
    except CompatError as exc:
        raise BadRequest(str(exc)) from None
    stream = req.get("stream") is True
    lc = open_call("chat", native, priority(), stream)
    resp_id = rc.new_response_id()
    if stream:
        return named_events_response(lc, ResponseStream(req, resp_id).on_line, _error_event)
    obj = final_object(lc)
    out = rc.joined_response(req, obj, resp_id)
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, lc.call)


def _error_event(err: GatewayError) -> NamedEvent:
    body = protocol_error_body(err.message, err.status, "openai")
    return ("error", {"type": "error", **body["error"], "error": body["error"]})
