"""The translation of an Anthropic Messages API body into a native /api/chat body, as Ollama
0.32's anthropic/anthropic.go does it (see :mod:`sollol.sim.anthropic_compat`)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from sollol.sim.protocol import RequestError, dumps

__all__ = ["estimated_input_tokens", "to_native"]


def to_native(body: dict[str, Any]) -> dict[str, Any]:
    """A Messages API body → a native /api/chat body (RequestError 400 as Ollama words it)."""
    if not body.get("model"):
        raise RequestError(400, "model is required")
    max_tokens = body.get("max_tokens")
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens <= 0:
        raise RequestError(400, "max_tokens is required and must be positive")
    if not body.get("messages"):
        raise RequestError(400, "messages is required")
    messages = _system(body.get("system"))
    for msg in body["messages"]:
        messages.extend(_messages(msg))
    options: dict[str, Any] = {"num_predict": max_tokens}
    for key, option in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        if body.get(key) is not None:
            options[option] = body[key]
    if body.get("stop_sequences"):
        options["stop"] = body["stop_sequences"]
    native: dict[str, Any] = {
        "model": body["model"],
        "messages": messages,
        "options": options,
        "stream": bool(body.get("stream")),
        "tools": [_tool(t) for t in body.get("tools") or ()],
    }
    think = _think(body)
    if think is not None:
        native["think"] = think
    return native


def _system(system: Any) -> list[dict[str, Any]]:
    if isinstance(system, list):
        system = "".join(
            str(b.get("text", ""))
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return [{"role": "system", "content": system}] if isinstance(system, str) and system else []


def _messages(msg: Any) -> list[dict[str, Any]]:
    """One Messages API message → native messages (tool results become ``tool`` messages)."""
    if not isinstance(msg, dict):
        raise RequestError(400, "json: cannot unmarshal into Go value of type MessageParam")
    role = str(msg.get("role", "")).lower()
    content = msg.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    text, images, calls, thinking, results = "", [], [], "", []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text += str(block.get("text") or "")
        elif kind == "image":
            images.append(_image(block.get("source")))
        elif kind == "tool_use":
            calls.append(_tool_use(block))
        elif kind == "tool_result":
            results.append(_tool_result(block))
        elif kind == "thinking":
            thinking = str(block.get("thinking") or "")
    out = results if role == "user" else []
    if text or images or calls or thinking:
        native: dict[str, Any] = {"role": role, "content": text}
        if images:
            native["images"] = images
        if calls:
            native["tool_calls"] = calls
        out.append(native)
    return out if role == "user" else out + results


def _image(source: Any) -> str:
    if not isinstance(source, dict):
        raise RequestError(400, "invalid image source")
    if source.get("type") != "base64":
        raise RequestError(
            400,
            f"invalid image source type: {source.get('type', '')}. "
            "Only base64 images are supported.",
        )
    data = str(source.get("data", ""))
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError(400, f"invalid base64 image data: {exc}") from None
    return data


def _tool_use(block: dict[str, Any]) -> dict[str, Any]:
    if not block.get("id"):
        raise RequestError(400, "tool_use block missing required 'id' field")
    if not block.get("name"):
        raise RequestError(400, "tool_use block missing required 'name' field")
    return {
        "id": block["id"],
        "function": {"name": block["name"], "arguments": block.get("input") or {}},
    }


def _tool_result(block: dict[str, Any]) -> dict[str, Any]:
    content = block.get("content")
    if isinstance(content, list):
        content = "".join(
            str(c.get("text", ""))
            for c in content
            if isinstance(c, dict) and c.get("type") == "text"
        )
    text = content if isinstance(content, str) else ""
    return {"role": "tool", "content": text, "tool_call_id": block.get("tool_use_id", "")}


def _tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict):
        raise RequestError(400, "json: cannot unmarshal into Go value of type anthropic.Tool")
    function = {"name": tool.get("name", ""), "parameters": tool.get("input_schema") or {}}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _think(body: dict[str, Any]) -> bool | str | None:
    thinking, config = body.get("thinking"), body.get("output_config")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("enabled", "disabled"):
        return bool(kind == "enabled")
    effort = str(config.get("effort", "")) if isinstance(config, dict) else ""
    effort = effort.strip().lower().replace("xhigh", "high")
    return effort if effort in ("low", "medium", "high", "max") else None


def estimated_input_tokens(body: dict[str, Any]) -> int:
    """Ollama's estimate for ``message_start``: characters of system, roles, texts and tools / 4."""
    total = (
        len(dumps(body["system"]))
        if isinstance(body.get("system"), list)
        else len(body.get("system") or "")
    )
    for msg in body.get("messages") or ():
        content = msg.get("content")
        total += len(str(msg.get("role", "")))
        if isinstance(content, str):
            total += len(content)
        else:
            for b in content or ():
                total += len(str(b.get("text") or "")) + len(str(b.get("thinking") or ""))
                total += len(dumps(b)) if b.get("type") in ("tool_use", "tool_result") else 0
    for tool in body.get("tools") or ():
        total += len(tool.get("name", "")) + len(tool.get("description", ""))
        total += len(dumps(tool.get("input_schema") or {}))
    return max(1, total // 4)
