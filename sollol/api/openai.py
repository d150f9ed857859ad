"""OpenAI-compatible API (/v1/*): translated to native calls, routed like them, answered in OpenAI shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

from flask import Blueprint, Response

from sollol.api import openai_compat as oc
from sollol.api.call import Call
from sollol.api.errors import BadRequest, GatewayError, ModelNotFound, error_body
from sollol.api.native import tags
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import final_object, json_response, routing_meta
from sollol.api.services import services, start_call

__all__ = ["bp"]

bp = Blueprint("openai", __name__)
Events = Iterator[tuple[str, bytes]]


def _translate(fn: Callable[[Any], dict[str, Any]], req: Any) -> dict[str, Any]:
    if not isinstance(req, dict):
        raise BadRequest("request body must be a JSON object")
    try:
        return fn(req)
    except oc.CompatError as exc:
        raise BadRequest(str(exc)) from None


def _run(endpoint: str, native: dict[str, Any], stream: bool) -> tuple[Call, Events]:
    validated(endpoint, native)
    return start_call(endpoint, native, priority(), stream)


@bp.post("/v1/chat/completions")
def chat_completions() -> Response:
    req = json_body()
    native = _translate(oc.chat_request, req)
    call, events = _run("chat", native, bool(req.get("stream")))
    cid = oc.new_id("chatcmpl")
    if req.get("stream"):
        usage = bool((req.get("stream_options") or {}).get("include_usage"))
        state = oc.ChatStreamState(cid, str(req["model"]), usage)
        return _sse(call, events, state.on_line)
    obj = _joined(call, events, lambda: final_object(call, events))
    out = oc.chat_completion(obj, cid, int(time.time()))
    out["model"] = req["model"]
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, call)


@bp.post("/v1/completions")
def completions() -> Response:
    req = json_body()
    native = _translate(oc.completion_request, req)
    call, events = _run("generate", native, bool(req.get("stream")))
    cid = oc.new_id("cmpl")
    model = str(req["model"])
    if req.get("stream"):
        return _sse(call, events, lambda obj: [oc.completion_chunk(obj, cid, model)])
    obj = _joined(call, events, lambda: final_object(call, events))
    out = oc.completion(obj, cid, int(time.time()))
    out["model"] = model
    out["_sollol_routing"] = obj["_sollol_routing"]
    return json_response(out, call)


@bp.post("/v1/embeddings")
def embeddings() -> Response:
    req = json_body()
    native = _translate(oc.embed_request, req)
    call, events = _run("embed", native, False)
    obj = _joined(call, events, lambda: final_object(call, events))
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


def _joined(call: Call, events: Events, join: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    svc = services()
    try:
        obj = join()
    except BaseException:
        svc.finish(call, "error")
        raise
    svc.finish(call, "ok")
    return obj


def _sse(
    call: Call, events: Events, convert: Callable[[dict[str, Any]], list[dict[str, Any]]]
) -> Response:
    """Server-sent events: ``data: {json}`` per chunk, ``data: [DONE]`` at the end."""
    svc = services()
    first = next(events)

    def body() -> Iterator[bytes]:
        try:
            for kind, data in _chain(first, events):
                obj = json.loads(data)
                chunks = convert(obj)
                if kind == "final" and chunks:
                    chunks[-1]["_sollol_routing"] = routing_meta(call)
                for c in chunks:
                    yield b"data: " + json.dumps(c, separators=(",", ":")).encode() + b"\n\n"
                if kind == "final":
                    yield b"data: [DONE]\n\n"
        except GatewayError as err:  # after output began: an OpenAI error event, no [DONE]
            payload = error_body(err.message, err.status, openai=True)
            yield b"data: " + json.dumps(payload).encode() + b"\n\n"
        finally:
            svc.finish(call, "ok" if call.finished else "abandoned")

    return Response(
        body(),
        content_type="text/event-stream",
        headers={
            "X-SOLLOL-Host": call.host,
            "X-SOLLOL-Request-Id": call.request_id,
            "Cache-Control": "no-cache",
        },
    )


def _chain(first: tuple[str, bytes], rest: Events) -> Events:
    yield first
    if first[0] != "final":
        yield from rest
