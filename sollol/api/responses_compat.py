"""OpenAI Responses API (``/v1/responses``) ⇄ native Ollama chat, as pure functions.

Non-stateful, as Ollama serves it (its ``openai/responses.go``, v0.32): ``previous_response_id``
and stored conversations are not supported; the whole conversation comes in ``input``.
``instructions`` → a system message, input items (messages, ``function_call``,
``function_call_output``) → native messages, ``max_output_tokens`` → ``num_predict``,
``reasoning.effort`` → ``think``, ``text.format`` (json_schema, json_object) → ``format``.
Answers go back as a ``response`` object, or as the ``response.*`` SSE events with
``sequence_number`` that OpenAI's SDKs accumulate.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from typing import Any

from sollol.api.openai_requests import CompatError, image_data, max_tokens, think_value

__all__ = [
    "ResponseStream",
    "final_output",
    "joined_response",
    "new_response_id",
    "response_object",
    "responses_request",
]

SseEvent = tuple[str, dict[str, Any]]


def new_response_id(rng: random.Random | None = None) -> str:
    """``resp_<n>`` with a random n, as Ollama does."""
    return f"resp_{(rng or random).randint(0, 999_999)}"


def _parts(content: Any) -> tuple[str, list[str]]:
    if isinstance(content, str):
        return content, []
    if not isinstance(content, list):
        raise CompatError("input message content must be a string or an array of content parts")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in ("input_text", "output_text", "text"):
            texts.append(str(part.get("text", "")))
        elif kind == "input_image":
            if part.get("image_url"):
                images.append(image_data(str(part["image_url"])))
        elif kind == "input_file":
            raise CompatError("file inputs are not currently supported")
    return "".join(texts), images


def _call(item: Mapping[str, Any]) -> dict[str, Any]:
    raw = item.get("arguments") or "{}"
    try:
        args = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise CompatError("failed to parse function call arguments") from None
    return {
        "id": item.get("call_id", ""),
        "function": {"name": item.get("name", ""), "arguments": args},
    }


def _items(items: list[Any]) -> list[dict[str, Any]]:
    """Input items → native messages; consecutive function calls join one assistant message."""
    out: list[dict[str, Any]] = []
    for item in items:
        if not isinstance(item, dict):
            raise CompatError("each input item must be an object")
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind == "message":
            text, images = _parts(item.get("content"))
            msg: dict[str, Any] = {"role": str(item.get("role", "user")).lower(), "content": text}
            if images:
                msg["images"] = images
            out.append(msg)
        elif kind == "function_call":
            if out and out[-1]["role"] == "assistant":
                out[-1].setdefault("tool_calls", []).append(_call(item))
            else:
                out.append({"role": "assistant", "content": "", "tool_calls": [_call(item)]})
        elif kind == "function_call_output":
            output = item.get("output", "")
            text = output if isinstance(output, str) else _parts(output)[0]
            out.append({"role": "tool", "content": text, "tool_call_id": item.get("call_id", "")})
        elif kind != "reasoning":
            raise CompatError(f"unsupported input item type {kind!r}")
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise CompatError("tools must be an array")
    out = []
    for t in tools:
        if not isinstance(t, dict) or t.get("type") != "function" or not t.get("name"):
            raise CompatError("only function tools with a name are supported")
        params = t.get("parameters") or {"type": "object", "properties": {}}
        fn = {"name": t["name"], "description": t.get("description") or "", "parameters": params}
        out.append({"type": "function", "function": fn})
    return out


def _format(text: Any) -> Any:
    fmt = text.get("format") if isinstance(text, dict) else None
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind == "json_schema":
        return fmt.get("schema") or {}  # type: ignore[union-attr]
    return "json" if kind == "json_object" else None


def responses_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """A ``/v1/responses`` request → native ``/api/chat`` body."""
    if not req.get("model"):
        raise CompatError("model is required")
    if req.get("previous_response_id"):
        raise CompatError("previous_response_id is not supported: send the whole conversation")
    messages = (
        [{"role": "system", "content": req["instructions"]}] if req.get("instructions") else []
    )
    inp = req.get("input")
    if isinstance(inp, str):
        messages.append({"role": "user", "content": inp})
    elif isinstance(inp, list):
        messages.extend(_items(inp))
    elif inp is not None:
        raise CompatError("input must be a string or an array of input items")
    options: dict[str, Any] = {
        "temperature": 1.0 if req.get("temperature") is None else req["temperature"]
    }
    if req.get("top_p") is not None:
        options["top_p"] = req["top_p"]
    limit = max_tokens(req, "max_output_tokens")
    if limit is not None:
        options["num_predict"] = limit
    body: dict[str, Any] = {
        "model": req["model"],
        "messages": messages,
        "options": options,
        "stream": True,
    }
    reasoning = req.get("reasoning")
    for key, value in (
        ("tools", _tools(req["tools"]) if req.get("tools") else None),
        ("format", _format(req.get("text"))),
        ("think", think_value(reasoning.get("effort") if isinstance(reasoning, dict) else None)),
    ):
        if value is not None:
            body[key] = value
    return body


def _text_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part],
    }


def _call_items(resp_id: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    items = []
    for i, c in enumerate(calls):
        fn = c.get("function") or {}
        items.append(
            {
                "id": f"fc_{resp_id.removeprefix('resp_')}_{i}",
                "type": "function_call",
                "status": "completed",
                "call_id": c.get("id") or f"call_{i}",
                "name": fn.get("name", ""),
                "arguments": json.dumps(fn.get("arguments") or {}, separators=(",", ":")),
            }
        )
    return items


def _reasoning_item(resp_id: str, thinking: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": thinking}]
    return {
        "id": f"rs_{resp_id}",
        "type": "reasoning",
        "summary": summary,
        "encrypted_content": thinking,
    }


def _usage(final: Mapping[str, Any]) -> dict[str, Any]:
    p, c = int(final.get("prompt_eval_count", 0)), int(final.get("eval_count", 0))
    return {
        "input_tokens": p,
        "output_tokens": c,
        "total_tokens": p + c,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens_details": {"reasoning_tokens": 0},
    }


def response_object(
    req: Mapping[str, Any], resp_id: str, status: str, output: list[Any], usage: Any = None
) -> dict[str, Any]:
    """The ``response`` object, echoing the request's settings as Ollama does."""
    fmt = (req.get("text") or {}).get("format") if isinstance(req.get("text"), dict) else None
    reasoning = req.get("reasoning") if isinstance(req.get("reasoning"), dict) else None
    incomplete = usage is not None and status == "incomplete"
    return {
        "id": resp_id,
        "object": "response",
        "created_at": int(time.time()),
        "completed_at": int(time.time()) if status in ("completed", "incomplete") else None,
        "status": status,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None,
        "model": req.get("model", ""),
        "previous_response_id": None,
        "instructions": req.get("instructions") or None,
        "output": output,
        "error": None,
        "tools": req.get("tools") or [],
        "tool_choice": "auto",
        "truncation": req.get("truncation") or "disabled",
        "parallel_tool_calls": True,
        "text": {"format": fmt or {"type": "text"}},
        "top_p": 1.0 if req.get("top_p") is None else req["top_p"],
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "temperature": 1.0 if req.get("temperature") is None else req["temperature"],
        "reasoning": {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}
        if reasoning
        else None,
        "usage": usage,
        "max_output_tokens": req.get("max_output_tokens"),
        "max_tool_calls": None,
        "store": False,
        "background": False,
        "service_tier": "default",
        "metadata": {},
        "safety_identifier": None,
        "prompt_cache_key": None,
    }


def final_output(final: Mapping[str, Any], resp_id: str) -> list[dict[str, Any]]:
    """The output items of a joined native answer: reasoning, then function calls or the text."""
    msg = final.get("message") or {}
    items = [_reasoning_item(resp_id, msg["thinking"])] if msg.get("thinking") else []
    calls = msg.get("tool_calls") or []
    if calls:
        return items + _call_items(resp_id, calls)
    return [*items, _text_item(f"msg_{resp_id.removeprefix('resp_')}_0", msg.get("content", ""))]


def _status(final: Mapping[str, Any]) -> str:
    return "incomplete" if final.get("done_reason") == "length" else "completed"


def joined_response(
    req: Mapping[str, Any], final: Mapping[str, Any], resp_id: str
) -> dict[str, Any]:
    """A joined native chat answer → the ``response`` object."""
    return response_object(
        req, resp_id, _status(final), final_output(final, resp_id), _usage(final)
    )


class ResponseStream:
    """Native chat stream lines → ``response.*`` events (Ollama's ResponsesStreamConverter)."""

    def __init__(self, req: Mapping[str, Any], resp_id: str) -> None:
        self.req, self.resp_id = req, resp_id
        self.seq = 0
        self.index = 0  # output_index of the item being streamed
        self.item_id = f"msg_{resp_id.removeprefix('resp_')}_0"
        self.text: str | None = None  # accumulated text once a message item is open
        self.thinking: str | None = None
        self.done_items: list[dict[str, Any]] = []
        self.had_tools = False

    def _ev(self, kind: str, **data: Any) -> SseEvent:
        self.seq += 1
        return (kind, {"type": kind, "sequence_number": self.seq - 1, **data})

    def _begin(self) -> list[SseEvent]:
        snap = response_object(self.req, self.resp_id, "in_progress", [])
        return [
            self._ev("response.created", response=snap),
            self._ev("response.in_progress", response=snap),
        ]

    def _think(self, delta: str) -> list[SseEvent]:
        out = []
        if self.thinking is None:
            self.thinking = ""
            item = {"id": f"rs_{self.resp_id}", "type": "reasoning", "summary": []}
            out.append(self._ev("response.output_item.added", output_index=self.index, item=item))
        self.thinking += delta
        ids = {"item_id": f"rs_{self.resp_id}", "output_index": self.index, "summary_index": 0}
        out.append(self._ev("response.reasoning_summary_text.delta", **ids, delta=delta))
        return out

    def _end_think(self) -> list[SseEvent]:
        if self.thinking is None:
            return []
        item = _reasoning_item(self.resp_id, self.thinking)
        ids = {"item_id": item["id"], "output_index": self.index, "summary_index": 0}
        out = [
            self._ev("response.reasoning_summary_text.done", **ids, text=self.thinking),
            self._ev("response.output_item.done", output_index=self.index, item=item),
        ]
        self.done_items.append(item)
        self.thinking, self.index = None, self.index + 1
        return out

    def _content(self, delta: str) -> list[SseEvent]:
        out = self._end_think()
        ids = {"item_id": self.item_id, "output_index": self.index, "content_index": 0}
        if self.text is None:
            self.text = ""
            item = {**_text_item(self.item_id, "", "in_progress"), "content": []}
            part = _text_item(self.item_id, "")["content"][0]
            out.append(self._ev("response.output_item.added", output_index=self.index, item=item))
            out.append(self._ev("response.content_part.added", **ids, part=part))
        self.text += delta
        out.append(self._ev("response.output_text.delta", **ids, delta=delta, logprobs=[]))
        return out

    def _calls(self, calls: list[dict[str, Any]]) -> list[SseEvent]:
        out = self._end_think()
        self.had_tools = True
        for item in _call_items(self.resp_id, calls):
            item["id"] = f"{item['id']}_{self.index}"
            ids = {"item_id": item["id"], "output_index": self.index}
            added = {**item, "status": "in_progress", "arguments": ""}
            out += [
                self._ev("response.output_item.added", output_index=self.index, item=added),
                self._ev("response.function_call_arguments.delta", **ids, delta=item["arguments"]),
                self._ev(
                    "response.function_call_arguments.done", **ids, arguments=item["arguments"]
                ),
                self._ev("response.output_item.done", output_index=self.index, item=item),
            ]
            self.done_items.append(item)
            self.index += 1
        return out

    def _finish(self, obj: Mapping[str, Any]) -> list[SseEvent]:
        out = self._end_think()
        if self.text is not None:
            item = _text_item(self.item_id, self.text)
            ids = {"item_id": self.item_id, "output_index": self.index, "content_index": 0}
            out += [
                self._ev("response.output_text.done", **ids, text=self.text, logprobs=[]),
                self._ev("response.content_part.done", **ids, part=item["content"][0]),
                self._ev("response.output_item.done", output_index=self.index, item=item),
            ]
            self.done_items.append(item)
        status = _status(obj)
        final = response_object(self.req, self.resp_id, status, self.done_items, _usage(obj))
        out.append(self._ev(f"response.{status}", response=final))
        return out

    def on_line(self, obj: Mapping[str, Any]) -> list[SseEvent]:
        """The events for one native stream line; the final line completes the response."""
        out = self._begin() if self.seq == 0 else []
        msg = obj.get("message") or {}
        if msg.get("thinking"):
            out += self._think(str(msg["thinking"]))
        if msg.get("tool_calls"):
            out += self._calls(list(msg["tool_calls"]))
        if msg.get("content") and not self.had_tools:
            out += self._content(str(msg["content"]))
        if obj.get("done"):
            out += self._finish(obj)
        return out
