"""OpenAI-compatible API (/v1/*): translated to native calls, routed like them, answered in OpenAI shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response

from sollol.api import openai_compat as oc
from sollol.api.errors import BadRequest, GatewayError, ModelNotFound, error_body
from sollol.api.lifecycle import CallLifecycle, Event, open_call
from sollol.api.native import tags
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import final_object, json_response, routing_meta, stream_response
from sollol.api.scatter import gather
from sollol.wire import EventKind

__all__ = ["bp"]

bp = Blueprint("openai", __name__)


def _translate(fn: Callable[[Any], dict[str, Any]], req: Any) -> dict[str, Any]:
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return fn(req)
    except oc.CompatError as exc:
        raise BadRequest(str(exc)) from None


def _run(endpoint: str, native: dict[str, Any], stream: bool) -> CallLifecycle:
    native = validated(endpoint, native)
    return open_call(endpoint, native, priority(), stream)


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    req = json_body()
    native = _translate(oc.chat_request, req)
    lc = _run("chat", native, bool(req.get("stream")))
    cid = oc.new_id("chatcmpl")
    if req.get("stream"):
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        state = oc.ChatStreamState(cid, str(req["model"]), usage)
        return _sse(lc, state.on_line)
    obj = final_object(lc)
    out = oc.chat_completion(obj, cid, int(time.time()))
    out["model"] = req["model"]
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, lc.call)


@bp.post("/v1/completions")
def completions() -> Response:
    req = json_body()
    native = _translate(oc.completion_request, req)
    lc = _run("generate", native, bool(req.get("stream")))
    cid = oc.new_id("cmpl")
    model = str(req["model"])
    if req.get("stream"):
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        return _sse(lc, oc.CompletionStreamState(cid, model, usage).on_line)
    obj = final_object(lc)
    out = oc.completion(obj, cid, int(time.time()))
    out["model"] = model
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, lc.call)


@bp.post("/v1/embeddings")
def embeddings() -> Response:
    req = json_body()
    native = _translate(oc.embed_request, req)
    gathered = gather(validated("embed", native), priority())  # many inputs: api/scatter.py
    if gathered is not None:
        obj, call = gathered
    else:
        lc = _run("embed", native, False)
        obj, call = final_object(lc), lc.call
    out = oc.embeddings_response(obj, str(req["model"]), req.get("encoding_format") or "float")
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, call)


@bp.get("/v1/models")
def models() -> Response:
    return json_response(oc.models_list(_installed()))


@bp.get("/v1/models/<path:model>")
def model(model: str) -> Response:
    from sollol.names import normalize_model

    wanted = normalize_model(model)
    for m in _installed():
        if normalize_model(str(m.get("name", ""))) == wanted:
            entry = oc.models_list([m])["data"][0]
            entry["id"] = model
            return json_response(entry)
    raise ModelNotFound(f"model '{model}' not found")


def _installed() -> list[dict[str, Any]]:
    return list(json.loads(tags().get_data())["models"])


def _sse(lc: CallLifecycle, convert: Callable[[dict[str, Any]], list[dict[str, Any]]]) -> Response:
    """Server-sent events: ``data: {json}`` per chunk, ``data: [DONE]`` at the end; a failure
    after the first event is an OpenAI error event (and no ``[DONE]``)."""

    def render(event: Event) -> Iterator[bytes]:
        kind, data = event
        chunks = convert(json.loads(data))
        if kind == EventKind.FINAL and chunks:
            chunks[-1]["_sollol_routing"] = routing_meta(lc.call)
        for c in chunks:
            yield b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n"
        if kind == EventKind.FINAL:
            yield b"data: [DONE]\n\n"

    def render_error(err: GatewayError) -> list[bytes]:
        payload = error_body(err.message, err.status, openai=True)
        return [b"data: " + json.dumps(payload).encode() + b"\n\n"]

    return stream_response(
        lc, render, render_error, "text/event-stream", headers={"Cache-Control": "no-cache"}
    )
