"""OpenAI Responses API (``/v1/responses``) ⇄ native Ollama chat, as pure functions.

Non-stateful, as Ollama serves it (its ``openai/responses.go``, v0.32): ``previous_response_id``
and stored conversations are not supported; the whole conversation comes in ``input``.
``instructions`` → a system message, input items (messages, ``function_call``,
``function_call_output``) → native messages, ``max_output_tokens`` → ``num_predict``,
``reasoning.effort`` → ``think``, ``text.format`` (json_schema, json_object) → ``format``.
Answers go back as a ``response`` object, or as the ``response.*`` SSE events with
``sequence_number`` that OpenAI's SDKs accumulate (:mod:`sollol.api.responses_stream`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from typing import Any

from sollol.api.openai_requests import CompatError, image_data, max_tokens, think_value

__all__ = [
    "SseEvent",
    "answer_status",
    "call_items",
    "final_output",
    "joined_response",
    "new_response_id",
    "reasoning_item",
    "response_object",
    "responses_request",
    "text_item",
    "usage_of",
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


def text_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [part],
    }


def call_items(resp_id: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def reasoning_item(resp_id: str, thinking: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": thinking}]
    return {
        "id": f"rs_{resp_id}",
        "type": "reasoning",
        "summary": summary,
        "encrypted_content": thinking,
    }


def usage_of(final: Mapping[str, Any]) -> dict[str, Any]:
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
    items = [reasoning_item(resp_id, msg["thinking"])] if msg.get("thinking") else []
    calls = msg.get("tool_calls") or []
    if calls:
        return items + call_items(resp_id, calls)
    return [*items, text_item(f"msg_{resp_id.removeprefix('resp_')}_0", msg.get("content", ""))]


def answer_status(final: Mapping[str, Any]) -> str:
    return "incomplete" if final.get("done_reason") == "length" else "completed"


def joined_response(
    req: Mapping[str, Any], final: Mapping[str, Any], resp_id: str
) -> dict[str, Any]:
    """A joined native chat answer → the ``response`` object."""
    return response_object(
        req, resp_id, answer_status(final), final_output(final, resp_id), usage_of(final)
    )
