"""Ollama's Anthropic-compatible endpoint, POST /v1/messages (Ollama ≥ 0.14): the body
translated to a native chat as Ollama 0.32's anthropic/anthropic.go does, answered as a Messages
API ``message`` or its SSE events.

Translation: ``system`` (a string or text blocks) → a system message; content blocks ``text``,
``image`` (base64 sources only), ``tool_use``, ``tool_result`` (→ ``tool`` messages, before the
user's text) and ``thinking``; ``max_tokens`` (required, > 0) → ``num_predict``; ``temperature``,
``top_p``, ``top_k``, ``stop_sequences``; ``tools`` (``input_schema`` → parameters);
``thinking: {type: enabled|disabled}`` or ``output_config.effort`` → ``think``. Thinking asked of
a model that cannot think is dropped, not refused (Ollama relaxes it for Anthropic clients).

Answer: content blocks ``thinking``, ``text``, ``tool_use``; ``stop_reason`` ``end_turn``,
``max_tokens`` or ``tool_use``. Stream: ``message_start`` (input tokens estimated as characters
/ 4, as Ollama does before the prompt is evaluated), per block ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` (a tool call is one ``input_json_delta``), then
``message_delta`` with the stop reason and usage, and ``message_stop``. Errors:
``{"type":"error","error":{"type","message"},"request_id"}``.
"""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from sollol.sim.answer import Answer
from sollol.sim.anthropic_request import estimated_input_tokens, to_native
from sollol.sim.context import FAILED, node_of
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.native import generation_for
from sollol.sim.node import SimNode
from sollol.sim.parsing import read_body
from sollol.sim.protocol import RequestError, dumps, json_response
from sollol.sim.streaming import SSE, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textrequest import TextRequest, parse_chat

__all__ = ["anthropic_error", "messages"]

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}
_STOP = {"stop": "end_turn", "length": "max_tokens"}


def anthropic_error(status: int, message: str) -> web.Response:
    body = {
        "type": "error",
        "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
        "request_id": f"req_{secrets.token_hex(12)}",
    }
    return json_response(body, status, openai=True)


# --- answering --------------------------------------------------------------------------------


async def messages(request: web.Request) -> web.StreamResponse:
    """POST /v1/messages."""
    node = node_of(request)
    body = await read_body(request, "MessagesRequest")
    native = to_native(body)
    req = parse_chat(native, node, relax_thinking=True)
    fault = await node.faults.before_work()
    message_id = f"msg_{secrets.token_hex(12)}"
    if native["stream"]:
        return await _stream(request, node, req, fault, _Events(message_id, body))
    return await _single(request, node, req, fault, message_id)


async def _single(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, message_id: str
) -> web.Response:
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)
    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count)):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            raise RequestError(500, MID_STREAM_ERROR)
    content: list[dict[str, Any]] = []
    if plan.thinking:
        content.append({"type": "thinking", "thinking": plan.thinking_text})
    text = plan.body_text if not plan.tool_calls else ""
    if text:
        content.append({"type": "text", "text": text})
    content.extend(_tool_use_block(c) for c in plan.tool_calls)
    return json_response(
        {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": req.model,
            "content": content,
            "stop_reason": _stop_reason(plan),
            "usage": {"input_tokens": gen.prompt_tokens, "output_tokens": gen.produced},
        },
        openai=True,
    )


def _stop_reason(plan: Answer) -> str:
    return "tool_use" if plan.tool_calls else _STOP.get(plan.done_reason, "stop_sequence")


def _tool_use_block(call: dict[str, Any]) -> dict[str, Any]:
    function = call["function"]
    return {
        "type": "tool_use",
        "id": call["id"],
        "name": function["name"],
        "input": function["arguments"],
    }


async def _stream(
    request: web.Request, node: SimNode, req: TextRequest, fault: FaultMode, events: _Events
) -> web.StreamResponse:
    out = LazyStream(request, SSE)
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)

    async def emit(tokens: tuple[str, ...]) -> None:
        if data := events.tokens(plan, tokens):
            await out.write(data)

    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await out.drop()
            request[FAILED] = True  # Ollama's converter turns the error line into nothing
            return await out.finish()
    await out.write(events.end(plan, gen.prompt_tokens, gen.produced))
    return await out.finish()


class _Events:
    """The SSE events of one streamed message, block by block."""

    def __init__(self, message_id: str, body: dict[str, Any]) -> None:
        self.id, self.model = message_id, str(body.get("model", ""))
        self.estimate = estimated_input_tokens(body)
        self.started = False
        self.index, self.block, self.position = 0, "", 0

    def _event(self, name: str, data: dict[str, Any]) -> bytes:
        return f"event: {name}\ndata: {dumps({'type': name, **data})}\n\n".encode()

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        message = {"id": self.id, "type": "message", "role": "assistant", "model": self.model}
        usage = {"input_tokens": self.estimate, "output_tokens": 0}
        return self._event("message_start", {"message": {**message, "content": [], "usage": usage}})

    def _open(self, kind: str, block: dict[str, Any]) -> bytes:
        out = self._close() if self.block and self.block != kind else b""
        if self.block != kind:
            self.block = kind
            out += self._event("content_block_start", {"index": self.index, "content_block": block})
        return out

    def _close(self) -> bytes:
        if not self.block:
            return b""
        out = self._event("content_block_stop", {"index": self.index})
        self.block, self.index = "", self.index + 1
        return out

    def _delta(self, delta: dict[str, Any]) -> bytes:
        return self._event("content_block_delta", {"index": self.index, "delta": delta})

    def tokens(self, plan: Answer, tokens: tuple[str, ...]) -> bytes:
        out = self._start()
        for token in tokens:
            index, self.position = self.position, self.position + 1
            if index < plan.thinking:
                out += self._open("thinking", {"type": "thinking", "thinking": ""})
                out += self._delta({"type": "thinking_delta", "thinking": token})
            elif not plan.buffered:
                out += self._text(token)
        return out

    def _text(self, text: str) -> bytes:
        out = self._open("text", {"type": "text", "text": ""})
        return out + self._delta({"type": "text_delta", "text": text})

    def end(self, plan: Answer, prompt_tokens: int, produced: int) -> bytes:
        out = self._start()
        for call in plan.tool_calls:
            block = {**_tool_use_block(call), "input": {}}
            out += self._open("tool_use", block)
            out += self._delta(
                {"type": "input_json_delta", "partial_json": dumps(call["function"]["arguments"])}
            )
            out += self._close()
        if plan.buffered and not plan.tool_calls and plan.body_count:
            out += self._text(plan.body_text)
        out += self._close()
        usage = {"input_tokens": prompt_tokens, "output_tokens": produced}
        out += self._event(
            "message_delta", {"delta": {"stop_reason": _stop_reason(plan)}, "usage": usage}
        )
        return out + self._event("message_stop", {})
