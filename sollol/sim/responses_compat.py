"""Ollama's OpenAI Responses endpoint, POST /v1/responses (Ollama ≥ 0.13.3, not stateful): the
body translated by :mod:`sollol.sim.responses_request`, answered as Ollama 0.32's
openai/responses.go and middleware/openai.go answer.

Answer: a ``response`` object (``status: completed``, the request's settings echoed, usage with
zero cached/reasoning details) whose ``output`` is a ``reasoning`` item when the model thought,
then either ``function_call`` items (arguments a JSON string) or one ``message`` with one
``output_text`` part. Stream (``event: <type>`` SSE, each with a ``sequence_number``):
``response.created``, ``response.in_progress``, the reasoning item with
``response.reasoning_summary_text.delta`` events, the message item with
``response.output_text.delta`` events (or each function call with one arguments delta), their
``.done`` events, then ``response.completed`` with the whole output. Errors: OpenAI's envelope.
"""

from __future__ import annotations

import random
import time
from typing import Any

from aiohttp import web

from sollol.sim.answer import Answer
from sollol.sim.context import FAILED, node_of
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.native import generation_for
from sollol.sim.openai_shapes import openai_tool_calls
from sollol.sim.parsing import read_body
from sollol.sim.protocol import RequestError, dumps, json_response
from sollol.sim.responses_request import to_native
from sollol.sim.streaming import SSE, LazyStream, cut_point, drive, drop_connection
from sollol.sim.textrequest import parse_chat

__all__ = ["responses"]

_ids = random.Random()  # Ollama's ids are random small integers, not unique
_PART = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}


async def responses(request: web.Request) -> web.StreamResponse:
    """POST /v1/responses."""
    node = node_of(request)
    body = await read_body(request, "ResponsesRequest")
    native = to_native(body)
    req = parse_chat(native, node)
    fault = await node.faults.before_work()
    shape = _Shape(body)
    plan = req.plan(node)
    gen = generation_for(request, node, req, plan)
    out = LazyStream(request, SSE) if native["stream"] else None

    async def emit(tokens: tuple[str, ...]) -> None:
        if out is not None and (data := shape.token_events(plan, tokens)):
            await out.write(data)

    async with gen:
        if not await drive(gen, cut_point(node, fault, plan.count), emit):
            if fault is FaultMode.CRASH_MID_STREAM:
                await drop_connection(request)
            if out is None:
                raise RequestError(500, MID_STREAM_ERROR)
            request[FAILED] = True  # the error line converts to no event; the stream just ends
            return await out.finish()
    use = _usage(gen.prompt_tokens, gen.produced)
    if out is None:
        return json_response(shape.whole(plan, use), openai=True)
    await out.write(shape.end_events(plan, use))
    return await out.finish()


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _usage(prompt: int, produced: int) -> dict[str, Any]:
    return {
        "input_tokens": prompt,
        "output_tokens": produced,
        "total_tokens": prompt + produced,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def _message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    content = [{**_PART, "text": text}] if status == "completed" else []
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content,
    }


class _Shape:
    """Builds one answer's response object and stream events."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body
        self.id = f"resp_{_ids.randrange(999999)}"
        self.item_id = f"msg_{_ids.randrange(999999)}"
        self.sequence = self.output_index = self.position = 0
        self.open = ""  # "reasoning" or "message": the item being streamed
        self.thinking = self.text = ""
        self.reasoning_id = ""
        self.done_items: list[dict[str, Any]] = []
        self.started = False

    def response(self, status: str, output: list[Any], use: Any) -> dict[str, Any]:
        """The response object with the request's settings echoed, as Ollama builds it."""
        b = self.body
        reasoning, text = _mapping(b.get("reasoning")), _mapping(b.get("text"))
        echo_reasoning = (
            {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
            if reasoning.get("effort") or reasoning.get("summary")
            else None
        )
        done = status == "completed"
        return {
            "id": self.id,
            "object": "response",
            "created_at": int(time.time()),
            "completed_at": int(time.time()) if done else None,
            "status": status,
            "incomplete_details": None,
            "model": b.get("model", ""),
            "previous_response_id": None,
            "instructions": b.get("instructions") or None,
            "output": output,
            "error": None,
            "tools": b.get("tools") or [],
            "tool_choice": "auto",
            "truncation": b.get("truncation") or "disabled",
            "parallel_tool_calls": True,
            "text": {"format": text.get("format") or {"type": "text"}},
            "top_p": 1.0 if b.get("top_p") is None else b["top_p"],
            "presence_penalty": 0,
            "frequency_penalty": 0,
            "top_logprobs": 0,
            "temperature": 1.0 if b.get("temperature") is None else b["temperature"],
            "reasoning": echo_reasoning,
            "usage": use,
            "max_output_tokens": b.get("max_output_tokens"),
            "max_tool_calls": None,
            "store": False,
            "background": bool(b.get("background")),
            "service_tier": "default",
            "metadata": {},
            "safety_identifier": None,
            "prompt_cache_key": None,
        }

    def whole(self, plan: Answer, use: dict[str, Any]) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        if plan.thinking:
            thinking = plan.thinking_text
            output.append(self._reasoning_item(f"rs_{self.id}", thinking))
        if plan.tool_calls:
            for i, call in enumerate(openai_tool_calls(plan.tool_calls)):
                output.append(self._call_item(f"fc_{self.id}_{i}", call, "completed"))
        else:
            output.append(_message_item(self.item_id, plan.body_text))
        return self.response("completed", output, use)

    @staticmethod
    def _reasoning_item(item_id: str, thinking: str) -> dict[str, Any]:
        summary = [{"type": "summary_text", "text": thinking}]
        return {
            "id": item_id,
            "type": "reasoning",
            "summary": summary,
            "encrypted_content": thinking,
        }

    @staticmethod
    def _call_item(item_id: str, call: dict[str, Any], status: str) -> dict[str, Any]:
        function = call["function"]
        arguments = function["arguments"] if status == "completed" else ""
        return {
            "id": item_id,
            "type": "function_call",
            "status": status,
            "call_id": call["id"],
            "name": function["name"],
            "arguments": arguments,
        }

    # --- stream ---------------------------------------------------------------------------

    def _event(self, kind: str, data: dict[str, Any]) -> bytes:
        payload = {**data, "type": kind, "sequence_number": self.sequence}
        self.sequence += 1
        return f"event: {kind}\ndata: {dumps(payload)}\n\n".encode()

    def _start(self) -> bytes:
        if self.started:
            return b""
        self.started = True
        created = self._event(
            "response.created", {"response": self.response("in_progress", [], None)}
        )
        return created + self._event(
            "response.in_progress", {"response": self.response("in_progress", [], None)}
        )

    def token_events(self, plan: Answer, tokens: tuple[str, ...]) -> bytes:
        out = self._start()
        for token in tokens:
            index, self.position = self.position, self.position + 1
            if index < plan.thinking:
                out += self._thinking(token)
            elif not plan.buffered:
                out += self._text(token)
        return out

    def _thinking(self, token: str) -> bytes:
        out = b""
        if self.open != "reasoning":
            self.open, self.reasoning_id = "reasoning", f"rs_{_ids.randrange(999999)}"
            item = {"id": self.reasoning_id, "type": "reasoning", "summary": []}
            out += self._event(
                "response.output_item.added", {"output_index": self.output_index, "item": item}
            )
        self.thinking += token
        where = {
            "item_id": self.reasoning_id,
            "output_index": self.output_index,
            "summary_index": 0,
        }
        return out + self._event("response.reasoning_summary_text.delta", {**where, "delta": token})

    def _finish_reasoning(self) -> bytes:
        if self.open != "reasoning":
            return b""
        item = self._reasoning_item(self.reasoning_id, self.thinking)
        where = {
            "item_id": self.reasoning_id,
            "output_index": self.output_index,
            "summary_index": 0,
        }
        out = self._event("response.reasoning_summary_text.done", {**where, "text": self.thinking})
        out += self._event(
            "response.output_item.done", {"output_index": self.output_index, "item": item}
        )
        self.done_items.append(item)
        self.open, self.output_index = "", self.output_index + 1
        return out

    def _text(self, token: str) -> bytes:
        out = self._finish_reasoning()
        where = {"item_id": self.item_id, "output_index": self.output_index, "content_index": 0}
        if self.open != "message":
            self.open = "message"
            item = _message_item(self.item_id, "", "in_progress")
            out += self._event(
                "response.output_item.added", {"output_index": self.output_index, "item": item}
            )
            out += self._event("response.content_part.added", {**where, "part": _PART})
        self.text += token
        return out + self._event(
            "response.output_text.delta", {**where, "delta": token, "logprobs": []}
        )

    def end_events(self, plan: Answer, use: dict[str, Any]) -> bytes:
        out = self._start() + self._finish_reasoning()
        calls = openai_tool_calls(plan.tool_calls)
        for i, call in enumerate(calls):
            out += self._call_events(
                f"fc_{_ids.randrange(999999)}_{i}", call, self.output_index + i
            )
        self.output_index += len(calls)
        if plan.buffered and not calls and plan.body_count:
            out += self._text(plan.body_text)
        output = list(self.done_items)
        if self.open == "message":
            item = _message_item(self.item_id, self.text)
            where = {"item_id": self.item_id, "output_index": self.output_index, "content_index": 0}
            out += self._event(
                "response.output_text.done", {**where, "text": self.text, "logprobs": []}
            )
            out += self._event(
                "response.content_part.done", {**where, "part": {**_PART, "text": self.text}}
            )
            out += self._event(
                "response.output_item.done", {"output_index": self.output_index, "item": item}
            )
            output.append(item)
        return out + self._event(
            "response.completed", {"response": self.response("completed", output, use)}
        )

    def _call_events(self, item_id: str, call: dict[str, Any], index: int) -> bytes:
        item = self._call_item(item_id, call, "completed")
        self.done_items.append(item)
        where = {"item_id": item_id, "output_index": index}
        arguments = call["function"]["arguments"]
        return (
            self._event(
                "response.output_item.added",
                {"output_index": index, "item": self._call_item(item_id, call, "in_progress")},
            )
            + self._event("response.function_call_arguments.delta", {**where, "delta": arguments})
            + self._event(
                "response.function_call_arguments.done", {**where, "arguments": arguments}
            )
            + self._event("response.output_item.done", {"output_index": index, "item": item})
        )
