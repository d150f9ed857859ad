"""The translation of an OpenAI Responses API body into a native /api/chat body, as Ollama 0.32's
openai/responses.go does it (see :mod:`sollol.sim.responses_compat`).

``instructions`` → a system message; ``input`` a string (one user message) or items: messages
(``input_text``/``output_text``/``input_image`` parts; ``input_file`` is refused),
``function_call`` (arguments a JSON string, joined to the assistant message before it),
``function_call_output`` (→ a ``tool`` message), ``reasoning`` (its ``encrypted_content`` is the
next assistant message's thinking); ``max_output_tokens`` → ``num_predict``; ``temperature``
defaults to 1.0; ``reasoning.effort`` → ``think``; ``tools`` (``namespace`` tools expanded to
``ns.name``); ``text.format`` ``json_schema`` → ``format``. Nothing is stored: no
``previous_response_id``.
"""

from __future__ import annotations

import json
from typing import Any

from sollol.sim.openai_compat import think_from_effort
from sollol.sim.protocol import RequestError

__all__ = ["to_native"]

_PARTS = ("input_text", "output_text", "input_image", "input_file")


def to_native(body: dict[str, Any]) -> dict[str, Any]:
    """A Responses API body → a native /api/chat body (RequestError 400 as Ollama words it)."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": str(body["instructions"])})
    items = body.get("input")
    if isinstance(items, str):
        if items:
            messages.append({"role": "user", "content": items})
    elif isinstance(items, list):
        _items(items, messages)
    elif items is not None:
        raise RequestError(400, "input must be a string or array")
    temperature = body.get("temperature")
    options: dict[str, Any] = {"temperature": 1.0 if temperature is None else temperature}
    if body.get("top_p") is not None:
        options["top_p"] = body["top_p"]
    if body.get("max_output_tokens") is not None:
        options["num_predict"] = body["max_output_tokens"]
    native: dict[str, Any] = {
        "model": body.get("model", ""),
        "messages": messages,
        "options": options,
        "stream": bool(body.get("stream")),
        "tools": [t for tool in body.get("tools") or () for t in _tools(tool)],
    }
    reasoning, text = body.get("reasoning"), body.get("text")
    effort = reasoning.get("effort") if isinstance(reasoning, dict) else None
    think = think_from_effort(str(effort or ""))
    if think is not None:
        native["think"] = think
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema" and fmt.get("schema"):
        native["format"] = fmt["schema"]
    return native


def _items(items: list[Any], messages: list[dict[str, Any]]) -> None:
    pending_thinking = ""
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RequestError(400, f"input[{i}]: input item missing required 'type' field")
        kind = item.get("type") or ("message" if item.get("role") else "")
        if kind == "reasoning":
            pending_thinking = str(item.get("encrypted_content") or "")
        elif kind == "message":
            text, images = _content(item.get("content"), i)
            msg: dict[str, Any] = {"role": str(item.get("role", "")), "content": text}
            if images:
                msg["images"] = images
            if msg["role"] == "assistant" and pending_thinking:
                msg["thinking"], pending_thinking = pending_thinking, ""
            messages.append(msg)
        elif kind == "function_call":
            call = {"id": item.get("call_id", ""), "function": _function(item, i)}
            if messages and messages[-1]["role"] == "assistant":
                messages[-1].setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": "", "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            text = output if isinstance(output, str) else _content(output, i)[0]
            messages.append({"role": "tool", "content": text, "tool_call_id": item.get("call_id")})
        elif kind != "web_search_call":
            raise RequestError(400, f"input[{i}]: {_unknown(kind)}")
    if pending_thinking:
        messages.append({"role": "assistant", "content": "", "thinking": pending_thinking})


def _unknown(kind: Any) -> str:
    if not kind:
        return "input item missing required 'type' field"
    return f"unknown input item type: {json.dumps(kind)}"


def _function(item: dict[str, Any], i: int) -> dict[str, Any]:
    try:
        arguments = json.loads(item["arguments"]) if item.get("arguments") else {}
    except json.JSONDecodeError as exc:
        raise RequestError(400, f"failed to parse function call arguments: {exc}") from None
    return {"name": item.get("name", ""), "arguments": arguments}


def _content(content: Any, i: int) -> tuple[str, list[str]]:
    """A message's content: a string, or parts (texts joined, data-URI images as base64)."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise RequestError(400, f"input[{i}]: content must be a string or array")
    text, images = "", []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in _PARTS:
            raise RequestError(400, f"input[{i}]: content[{j}]: unknown content type: {kind}")
        if kind == "input_file":
            raise RequestError(400, "file inputs are not currently supported")
        if kind == "input_image":
            url = str(part.get("image_url") or "")
            if url and not url.startswith("data:"):
                raise RequestError(400, "invalid image input")
            if url:
                images.append(url.split(",", 1)[-1])
        else:
            text += str(part.get("text") or "")
    return text, images


def _tools(tool: Any) -> list[dict[str, Any]]:
    """One Responses tool → native tools (a namespace's members named ``ns.member``)."""
    if not isinstance(tool, dict):
        raise RequestError(400, "json: cannot unmarshal into Go value of type openai.ResponsesTool")
    if tool.get("type") == "namespace":
        prefix = f"{tool['name']}." if tool.get("name") else ""
        members = [t for member in tool.get("tools") or () for t in _tools(member)]
        for m in members:
            if prefix and not m["function"]["name"].startswith(prefix):
                m["function"]["name"] = prefix + m["function"]["name"]
        return members
    function = {
        "name": tool.get("name", ""),
        "description": tool.get("description") or "",
        "parameters": tool.get("parameters") or {},
    }
    return [{"type": tool.get("type") or "function", "function": function}]
