"""Ollama's OpenAI-compatible text endpoints (/v1/chat/completions, /v1/completions): bodies
translated to native requests as Ollama 0.32's openai/openai.go does, run by the same engine,
answered in OpenAI's shapes (:mod:`sollol.sim.openai_shapes`).

Translation: ``max_tokens`` → ``num_predict`` (``max_completion_tokens`` is not read, as in
Ollama); ``temperature``/``top_p`` default to 1.0; ``response_format`` ``json_object`` →
``format:"json"``, ``json_schema`` → its schema; ``tools`` passed through (``tool_choice`` is
ignored); ``reasoning_effort`` or ``reasoning.effort`` → ``think`` (``none`` → false,
``minimal`` → low, ``xhigh``/``ultra`` → max); a ``tool`` message's ``name`` (or the name of the
call its ``tool_call_id`` answers) → ``tool_name``; assistant ``tool_calls`` arguments are JSON
strings; ``logprobs``/``top_logprobs`` passed through. ``stream`` defaults to false.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sollol.sim.context import FAILED, node_of
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.native import generation_for, load_or_unload
from sollol.sim.node import SimNode
from sollol.sim.openai_models import embeddings, model, models
from sollol.sim.openai_shapes import Shape, event, usage
from sollol.sim.parsing import field, read_body
from sollol.sim.protocol import RequestError, json_response
from sollol.sim.streaming import SSE, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textrequest import TextRequest, parse_chat, parse_generate

__all__ = [
    "chat_completions",
    "completions",
    "embeddings",
    "model",
    "models",
    "openai_error",
    "think_from_effort",
]

_EFFORT: dict[str, bool | str] = {"none": False, "minimal": "low", "xhigh": "max", "ultra": "max"}
_EFFORTS = ("low", "medium", "high", "max")


def openai_error(status: int, message: str) -> web.Response:
    """OpenAI's error envelope with the native status kept."""
    kind = {400: "invalid_request_error", 404: "not_found_error"}.get(status, "api_error")
    return json_response(
        {"error": {"message": message, "type": kind, "param": None, "code": None}},
        status,
        openai=True,
    )


# --- request translation ----------------------------------------------------------------------


def _options(body: dict[str, Any]) -> dict[str, Any]:
    """OpenAI sampling fields → native options (temperature and top_p default to 1.0 here)."""
    temperature = body.get("temperature")
    opts: dict[str, Any] = {
        "temperature": 1.0 if temperature is None else temperature,
        "top_p": body.get("top_p") or 1.0,
    }  # top_p 0 means 1.0
    if body.get("max_tokens") is not None:
        opts["num_predict"] = body["max_tokens"]
    for key in ("seed", "frequency_penalty", "presence_penalty"):
        if body.get(key) is not None:
            opts[key] = body[key]
    stop = body.get("stop")
    if stop is not None:
        opts["stop"] = [stop] if isinstance(stop, str) else [s for s in stop if isinstance(s, str)]
    return opts


def _content(content: Any) -> tuple[str, list[str]]:
    """A message's content: a string, or parts (text joined; data-URI images as base64)."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise RequestError(400, "invalid message content type")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            if not str(url).startswith("data:"):
                raise RequestError(400, "invalid image input")
            images.append(str(url).split(",", 1)[-1])
    return "".join(texts), images


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    """An assistant message's OpenAI tool calls → native ones (arguments parsed from JSON)."""
    out = []
    for call in calls if isinstance(calls, list) else ():
        function = (call.get("function") if isinstance(call, dict) else None) or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except (TypeError, json.JSONDecodeError) as exc:
            raise RequestError(400, f"invalid tool call arguments: {exc}") from None
        native = {"function": {"name": function.get("name", ""), "arguments": arguments}}
        out.append({"id": call.get("id", ""), **native})
    return out


def _message(m: Any, history: list[Any]) -> dict[str, Any]:
    if not isinstance(m, dict):
        raise RequestError(400, "invalid message format")
    text, images = _content(m.get("content"))
    msg: dict[str, Any] = {"role": m.get("role", "user"), "content": text}
    if images:
        msg["images"] = images
    if m.get("tool_calls"):
        msg["tool_calls"] = _tool_calls(m["tool_calls"])
    if m.get("reasoning"):
        msg["thinking"] = m["reasoning"]
    if str(msg["role"]).lower() == "tool":
        msg["tool_name"] = m.get("name") or _name_of_call(history, m.get("tool_call_id"))
    return msg


def _name_of_call(history: list[Any], call_id: Any) -> str:
    """The function name of the latest assistant tool call with this id ("" if none)."""
    for m in reversed(history):
        for call in (m.get("tool_calls") or []) if isinstance(m, dict) else []:
            if isinstance(call, dict) and call_id and call.get("id") == call_id:
                return str((call.get("function") or {}).get("name", ""))
    return ""


def _think(body: dict[str, Any]) -> bool | str | None:
    reasoning = body.get("reasoning")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    return think_from_effort(str(effort or body.get("reasoning_effort") or ""))


def think_from_effort(effort: str) -> bool | str | None:
    """An OpenAI reasoning effort → ``think`` (None: the model's default); 400 when unknown."""
    if not effort:
        return None
    if effort in _EFFORT:
        return _EFFORT[effort]
    if effort in _EFFORTS:
        return effort
    raise RequestError(
        400,
        f'invalid reasoning value: "{effort}" (must be "minimal", "low", "medium", "high", '
        '"xhigh", "ultra", "max", or "none")',
    )


def _chat_native(body: dict[str, Any]) -> dict[str, Any]:
    messages = field(body, "messages", list, "ChatCompletionRequest", [])
    if not messages:
        raise RequestError(400, "[] is too short - 'messages'")
    native: dict[str, Any] = {
        "model": body.get("model", ""),
        "messages": [_message(m, messages[:i]) for i, m in enumerate(messages)],
        "stream": False,
        "options": _options(body),
        "tools": body.get("tools") or [],
        "logprobs": bool(body.get("logprobs")),
        "top_logprobs": body.get("top_logprobs") or 0,
    }
    think = _think(body)
    if think is not None:
        native["think"] = think
    fmt = body.get("response_format")
    kind = str(fmt.get("type", "")).strip().lower() if isinstance(fmt, dict) else ""
    if kind == "json_object":
        native["format"] = "json"
    elif kind == "json_schema" and isinstance(fmt, dict) and fmt.get("json_schema") is not None:
        native["format"] = (fmt.get("json_schema") or {}).get("schema") or {}
    return native


def _completion_native(body: dict[str, Any]) -> dict[str, Any]:
    prompt = field(body, "prompt", str, "CompletionRequest", "")
    native = {"model": body.get("model", ""), "prompt": prompt, "options": _options(body)}
    if body.get("suffix"):
        native["suffix"] = body["suffix"]
    logprobs = body.get("logprobs")
    if isinstance(logprobs, int) and not isinstance(logprobs, bool) and logprobs > 0:
        native.update(logprobs=True, top_logprobs=logprobs)
    return native


# --- chat and completions ---------------------------------------------------------------------


async def chat_completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/chat/completions."""
    return await _serve(request, "chat")


async def completions(request: web.Request) -> web.StreamResponse:
    """POST /v1/completions (``prompt`` must be a string)."""
    return await _serve(request, "completion")


async def _serve(request: web.Request, kind: str) -> web.StreamResponse:
    node = node_of(request)
    body = await read_body(request, "ChatCompletionRequest")
    if kind == "chat":
        req = parse_chat(_chat_native(body), node)
    else:
        req = parse_generate(_completion_native(body), node)
    stream = bool(field(body, "stream", bool, "ChatCompletionRequest", False))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    fault = await node.faults.before_work()
    shape = Shape(kind, str(body.get("model", "")), include_usage, req)
    if req.load_only:
        await load_or_unload(request, node, req, fault)
        return json_response(shape.empty(), openai=True)
    if stream:
        return await _stream(request, node, req, fault, shape)
    return await _single(request, node, req, fault, shape)


async def _single(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, shape: Shape
) -> web.Response:
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)
    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count)):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            raise RequestError(500, MID_STREAM_ERROR)
    use = usage(gen.prompt_tokens, gen.produced)
    return json_response(shape.whole(plan, gen.produced, use), openai=True)


async def _stream(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, shape: Shape
) -> web.StreamResponse:
    out = LazyStream(request, SSE)
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)

    async def emit(tokens: tuple[str, ...]) -> None:
        if data := shape.token_events(plan, tokens):
            await out.write(data)

    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await out.drop()
            # Ollama pushes the native error line through its converter: a stray empty chunk,
            # then the stream ends without [DONE].
            request[FAILED] = True
            await out.write(event(shape.finish(None)))
            return await out.finish()
    events = shape.tail_events(plan) + event(shape.finish(plan.done_reason))
    if shape.include_usage:
        events += event(shape.usage_chunk(usage(gen.prompt_tokens, gen.produced)))
    await out.write(events + b"data: [DONE]\n\n")
    return await out.finish()
