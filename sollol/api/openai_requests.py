"""OpenAI requests → native Ollama bodies, as Ollama's own compatibility layer maps them (its
``openai/openai.go``, v0.32): workers only ever speak the native API and report its timings.

Beyond Ollama: ``max_completion_tokens`` (what current OpenAI clients and LangChain send instead of
``max_tokens``) is read as ``num_predict``, and ``tool_choice`` is honoured where a gateway can:
``"none"`` sends no tools, a named function sends only that tool.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "CompatError",
    "chat_request",
    "completion_request",
    "embed_request",
    "max_tokens",
    "message_content",
    "think_value",
]

_EFFORT = {
    "none": False,
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "max": "max",
    "xhigh": "max",
    "ultra": "max",
}


class CompatError(ValueError):
    """An OpenAI request that cannot be translated (→ 400 invalid_request_error)."""


def max_tokens(req: Mapping[str, Any], *names: str) -> int | None:
    """The first of ``names`` the request sets, as a token count (None: none set)."""
    for name in names:
        if req.get(name) is not None:
            return _int(req[name], name)
    return None


def _options(req: Mapping[str, Any], openai_defaults: bool = True) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    limit = max_tokens(req, "max_completion_tokens", "max_tokens")
    if limit is not None:
        opts["num_predict"] = limit
    for key in ("seed", "frequency_penalty", "presence_penalty"):
        if req.get(key) is not None:
            opts[key] = _number(req[key], key)
    temp = req.get("temperature")
    top_p = req.get("top_p")
    if temp is not None or openai_defaults:
        opts["temperature"] = _number(1.0 if temp is None else temp, "temperature")
    if top_p is not None or openai_defaults:
        opts["top_p"] = 1.0 if not top_p else _number(top_p, "top_p")
    stop = req.get("stop")
    if stop is not None:
        stops = [stop] if isinstance(stop, str) else stop
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise CompatError("stop must be a string or an array of strings")
        opts["stop"] = stops
    return opts


def _number(v: Any, name: str) -> float | int:
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise CompatError(f"{name} must be a number")
    return v


def _int(v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise CompatError(f"{name} must be a non-negative integer")
    return v


def message_content(content: Any) -> tuple[str, list[str]]:
    """Text and base64 images of an OpenAI message content (string or array of parts)."""
    if content is None or isinstance(content, str):
        return content or "", []
    if not isinstance(content, list):
        raise CompatError("message content must be a string or an array of content parts")
    texts, images = [], []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(str(part.get("text", "")))
        elif kind == "image_url":
            images.append(_image(part.get("image_url")))
        else:
            raise CompatError(f"unsupported content part type {kind!r}")
    return "".join(texts), images


def _image(value: Any) -> str:
    url = value.get("url", "") if isinstance(value, dict) else str(value or "")
    return image_data(url)


def image_data(url: str) -> str:
    """The base64 payload of a ``data:`` URI (Ollama rejects http(s) image URLs)."""
    if not url.startswith("data:") or ";base64," not in url:
        raise CompatError("image URLs are not supported: send the image as a base64 data: URI")
    return url.split(";base64,", 1)[1]


def _tool_calls(calls: Any) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls or []):
        fn = (c or {}).get("function") or {}
        args = fn.get("arguments", "{}")
        try:
            parsed = json.loads(args) if isinstance(args, str) else args
        except ValueError:
            raise CompatError("tool_calls[].function.arguments must be a JSON string") from None
        out.append(
            {
                "id": c.get("id", ""),
                "function": {"index": i, "name": fn.get("name", ""), "arguments": parsed},
            }
        )
    return out


def _message(msg: Any, names_by_id: dict[str, str]) -> dict[str, Any]:
    if not isinstance(msg, dict) or "role" not in msg:
        raise CompatError("each message must be an object with a role")
    text, images = message_content(msg.get("content"))
    out: dict[str, Any] = {"role": str(msg["role"]).lower(), "content": text}
    if images:
        out["images"] = images
    if msg.get("reasoning"):
        out["thinking"] = msg["reasoning"]
    if msg.get("tool_calls"):
        out["tool_calls"] = _tool_calls(msg["tool_calls"])
        for c in msg["tool_calls"]:
            names_by_id[c.get("id", "")] = (c.get("function") or {}).get("name", "")
    if out["role"] == "tool":
        call_id = msg.get("tool_call_id", "")
        out["tool_name"] = msg.get("name") or names_by_id.get(call_id, "")
        if call_id:
            out["tool_call_id"] = call_id
    return out


def _format(req: Mapping[str, Any]) -> Any:
    rf = req.get("response_format")
    if not rf:
        return None
    kind = rf.get("type") if isinstance(rf, dict) else None
    if kind == "json_object":
        return "json"
    if kind == "json_schema":
        return ((rf.get("json_schema") or {}).get("schema")) or {}
    if kind == "text":
        return None
    raise CompatError(f"unsupported response_format type {kind!r}")


def think_value(effort: Any) -> Any:
    """``reasoning_effort`` → native ``think`` (None: leave it to the model)."""
    if effort is None or effort == "":
        return None
    if effort not in _EFFORT:
        raise CompatError(f"invalid reasoning_effort {effort!r}")
    return _EFFORT[effort]


def _think(req: Mapping[str, Any]) -> Any:
    reasoning = req.get("reasoning")
    nested = reasoning.get("effort") if isinstance(reasoning, dict) else None
    return think_value(req.get("reasoning_effort") or nested)


def _tools(req: Mapping[str, Any]) -> Any:
    """``tools`` as Ollama takes them (OpenAI's shape), narrowed by ``tool_choice``."""
    tools, choice = req.get("tools"), req.get("tool_choice")
    if tools is not None and not isinstance(tools, list):
        raise CompatError("tools must be an array")
    if not tools or choice in (None, "auto", "required"):
        return tools or None
    if choice == "none":
        return None
    name = ((choice or {}).get("function") or {}).get("name") if isinstance(choice, dict) else None
    if not name:
        raise CompatError(f"invalid tool_choice {choice!r}")
    chosen = [
        t for t in tools if isinstance(t, dict) and (t.get("function") or {}).get("name") == name
    ]
    if not chosen:
        raise CompatError(f"tool_choice names function {name!r}, which is not in tools")
    return chosen


def chat_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI chat.completions request → native /api/chat body."""
    if not req.get("model"):
        raise CompatError("model is required")
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        raise CompatError("[] is too short - 'messages'")
    names: dict[str, str] = {}
    body: dict[str, Any] = {
        "model": req["model"],
        "messages": [_message(m, names) for m in messages],
        "options": _options(req),
        "stream": True,
    }
    for key, value in (
        ("format", _format(req)),
        ("think", _think(req)),
        ("tools", _tools(req)),
        ("logprobs", req.get("logprobs")),
        ("top_logprobs", req.get("top_logprobs")),
    ):
        if value is not None:
            body[key] = value
    return body


def completion_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI completions request → native /api/generate body (prompt must be a string)."""
    if not req.get("model"):
        raise CompatError("model is required")
    prompt = req.get("prompt", "")
    if not isinstance(prompt, str):
        raise CompatError("prompt must be a string")
    body: dict[str, Any] = {
        "model": req["model"],
        "prompt": prompt,
        "options": _options(req),
        "stream": True,
    }
    if req.get("suffix"):
        body["suffix"] = req["suffix"]
    logprobs = req.get("logprobs")  # an int here: how many alternatives per token
    if logprobs is not None and logprobs is not False:
        body["logprobs"] = True
        body["top_logprobs"] = _int(logprobs, "logprobs")
    return body


def embed_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI embeddings request → native /api/embed body."""
    if not req.get("model"):
        raise CompatError("model is required")
    inp = req.get("input")
    if isinstance(inp, list) and not inp:
        raise CompatError("invalid input")
    if not (
        isinstance(inp, str) or (isinstance(inp, list) and all(isinstance(x, str) for x in inp))
    ):
        raise CompatError(
            "invalid input: a string or an array of strings (token arrays are not supported)"
        )
    if req.get("encoding_format", "float") not in ("float", "base64", None):
        raise CompatError("encoding_format must be float or base64")
    body: dict[str, Any] = {"model": req["model"], "input": inp}
    if req.get("dimensions") is not None:
        body["dimensions"] = _int(req["dimensions"], "dimensions")
    return body
