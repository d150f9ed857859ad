"""Ollama's OpenAI-compatible endpoints (/v1): bodies translated to native requests, run by the
same engine, answered in OpenAI's shapes (ollama-api.md §5).

``stream`` defaults to false. SSE is ``data: {...}\\n\\n`` per chunk, a separate finish chunk
with ``delta:{}``, a ``choices:[]`` usage chunk when ``stream_options.include_usage``, then
``data: [DONE]``. Errors are wrapped as ``{"error": {message, type, param, code}}`` by the server.
"""

from __future__ import annotations

import base64
import random
import sys
import time
from array import array
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sollol.sim.catalog import openai_model, tags_body
from sollol.sim.context import FAILED, node_of
from sollol.sim.embedding import as_float32, embed_inputs, resize, run_embedding
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.native import generation_for, load_or_unload
from sollol.sim.node import SimNode
from sollol.sim.parsing import field, read_body
from sollol.sim.protocol import RequestError, dumps, json_response
from sollol.sim.streaming import SSE, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textrequest import TextRequest, parse_chat, parse_generate

__all__ = ["chat_completions", "completions", "embeddings", "model", "models"]

_ids = random.Random()  # Ollama's ids are a random small integer, not unique
_FINGERPRINT = "fp_ollama"


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
        opts["stop"] = [stop] if isinstance(stop, str) else stop
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


def _chat_native(body: dict[str, Any]) -> dict[str, Any]:
    messages = field(body, "messages", list, "ChatCompletionRequest", [])
    if not messages:
        raise RequestError(400, "[] is too short - 'messages'")
    native_msgs = []
    for m in messages:
        text, images = _content(m.get("content") if isinstance(m, dict) else None)
        role = m.get("role", "user") if isinstance(m, dict) else "user"
        msg = {"role": role, "content": text}
        native_msgs.append({**msg, "images": images} if images else msg)
    fmt = body.get("response_format")
    fmt = fmt if isinstance(fmt, dict) else {}
    native = {
        "model": body.get("model", ""),
        "messages": native_msgs,
        "stream": False,
        "options": _options(body),
        "tools": body.get("tools") or [],
    }
    if fmt.get("type") == "json_object":
        native["format"] = "json"
    elif fmt.get("type") == "json_schema":
        native["format"] = (fmt.get("json_schema") or {}).get("schema") or {}
    return native


def _stream_opts(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = bool(field(body, "stream", bool, "ChatCompletionRequest", False))
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
    return stream, include_usage


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


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
        prompt = field(body, "prompt", str, "CompletionRequest", "")
        req = parse_generate(
            {
                "model": body.get("model", ""),
                "prompt": prompt,
                "suffix": body.get("suffix"),
                "options": _options(body),
            },
            node,
        )
    stream, include_usage = _stream_opts(body)
    fault = await node.faults.before_work()
    shape = _Shape(kind, str(body.get("model", "")), include_usage)
    if req.load_only:
        await load_or_unload(request, node, req, fault)
        return json_response(shape.whole("", "stop", _usage(0, 0)), openai=True)
    if stream:
        return await _stream(request, node, req, fault, shape)
    return await _single(request, node, req, fault, shape)


async def _single(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, shape: _Shape
) -> web.Response:
    plan = req.plan(node)
    async with generation_for(request, node, req, plan) as gen:
        if not await drive(gen, cut_point(node, fault, plan.count)):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            raise RequestError(500, MID_STREAM_ERROR)
    usage = _usage(req.prompt_tokens, gen.produced)
    return json_response(shape.whole(plan.text, plan.done_reason, usage), openai=True)


async def _stream(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, shape: _Shape
) -> web.StreamResponse:
    out = LazyStream(request, SSE)
    plan = req.plan(node)

    async def emit(tokens: tuple[str, ...]) -> None:
        await out.write(shape.token_events(tokens))

    async with generation_for(request, node, req, plan) as gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await out.drop()
            # Ollama pushes the native error line through its converter: a stray empty chunk,
            # then the stream ends without [DONE] (ollama-api.md §5.1).
            request[FAILED] = True
            await out.write(_event(shape.finish(None)))
            return await out.finish()
    events = _event(shape.finish(plan.done_reason))
    if shape.include_usage:
        events += _event(shape.usage_chunk(_usage(req.prompt_tokens, gen.produced)))
    await out.write(events + b"data: [DONE]\n\n")
    return await out.finish()


def _event(obj: dict[str, Any]) -> bytes:
    return f"data: {dumps(obj)}\n\n".encode()


class _Shape:
    """Builds chat.completion(.chunk) or text_completion objects for one response."""

    def __init__(self, kind: str, model: str, include_usage: bool) -> None:
        self.chat = kind == "chat"
        self.model = model
        self.include_usage = include_usage
        self.id = f"{'chatcmpl' if self.chat else 'cmpl'}-{_ids.randrange(999)}"
        self.created = int(time.time())
        self._first = True

    def _base(self, chunk: bool) -> dict[str, Any]:
        obj = "chat.completion" + (".chunk" if chunk else "") if self.chat else "text_completion"
        created = self.created if self.chat else int(time.time())  # completions: per chunk
        return {
            "id": self.id,
            "object": obj,
            "created": created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
        }

    def whole(self, text: str, reason: str, usage: dict[str, int]) -> dict[str, Any]:
        if self.chat:
            choice = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "finish_reason": reason,
            }
        else:
            choice = {"text": text, "index": 0, "finish_reason": reason}
        return {**self._base(False), "choices": [choice], "usage": usage}

    def _chunk(self, text: str | None, reason: str | None) -> dict[str, Any]:
        if self.chat:
            delta: dict[str, Any] = {} if text is None else {"content": text}
            if self._first and text is not None:
                delta = {"role": "assistant", **delta}
                self._first = False
            choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": reason}
        else:
            choice = {"text": text or "", "index": 0, "finish_reason": reason}
        obj = {**self._base(True), "choices": [choice]}
        if not self.chat and self.include_usage:
            obj["usage"] = _usage(0, 0)  # Ollama puts zero usage on every completion chunk
        return obj

    def token_events(self, tokens: tuple[str, ...]) -> bytes:
        return b"".join(_event(self._chunk(t, None)) for t in tokens)

    def finish(self, reason: str | None) -> dict[str, Any]:
        return self._chunk(None, reason)

    def usage_chunk(self, usage: dict[str, int]) -> dict[str, Any]:
        return {**self._base(True), "choices": [], "usage": usage}


# --- embeddings and models --------------------------------------------------------------------


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings: float lists or base64 little-endian float32."""
    node = node_of(request)
    body = await read_body(request, "EmbedRequest")
    model = field(body, "model", str, "EmbedRequest", "")
    raw_input = body.get("input")
    if raw_input == [] or raw_input is None:
        raise RequestError(400, "invalid input")
    texts = embed_inputs(raw_input, "invalid input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise RequestError(400, f'invalid encoding_format: "{encoding}"')
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f'model "{model}" not found, try pulling it first')
    dims = int(field(body, "dimensions", int, "EmbedRequest", 0))
    outcome = await run_embedding(
        request, node, spec, texts, options={}, keep_alive_s=node.spec.keep_alive_s
    )
    vectors = [] if outcome is None else [as_float32(resize(v, dims)) for v in outcome.vectors]
    encode: Callable[[list[float]], Any] = _base64 if encoding == "base64" else (lambda v: v)
    tokens = 0 if outcome is None else outcome.prompt_tokens
    return json_response(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": encode(v), "index": i}
                for i, v in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        openai=True,
    )


def _base64(vector: list[float]) -> str:
    floats = array("f", vector)
    if sys.byteorder == "big":
        floats.byteswap()  # OpenAI's base64 is little-endian float32
    return base64.b64encode(floats.tobytes()).decode()


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: ``data`` is null when nothing is installed."""
    node = node_of(request)
    names = [m["name"] for m in tags_body(node)["models"]]
    data = [openai_model(node, node.spec.models[n]) for n in names] or None
    return json_response({"object": "list", "data": data}, openai=True)


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{model}: the id is the path parameter as given."""
    node = node_of(request)
    name = request.match_info["model"]
    spec = node.find_model(name)
    if spec is None:
        raise RequestError(404, f"model '{name}' not found")
    return json_response(openai_model(node, spec, name), openai=True)
