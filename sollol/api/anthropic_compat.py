"""Anthropic Messages API ⇄ native Ollama chat, as pure functions, mapped the way Ollama's own
Anthropic layer maps them (its ``anthropic/anthropic.go``, v0.32): ``system`` → a system message,
content blocks (text, base64 image, tool_use, tool_result, thinking) → native messages,
``max_tokens`` → ``num_predict``, ``thinking`` / ``output_config.effort`` → ``think``; answers
back as a ``message`` object or as the SSE event sequence the Anthropic SDKs accumulate
(``message_start``, ``content_block_start/delta/stop``, ``message_delta``, ``message_stop``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any

from sollol.api.openai_requests import CompatError

__all__ = [
    "MessageStream",
    "count_tokens",
    "message_response",
    "messages_request",
    "new_message_id",
    "stop_reason",
]

SseEvent = tuple[str, dict[str, Any]]  # (event name, data object)
_EFFORTS = ("low", "medium", "high", "max")


def new_message_id(prefix: str = "msg") -> str:
    """``msg_<24 hex>``, as Ollama generates them (12 random bytes)."""
    return f"{prefix}_{secrets.token_hex(12)}"


def _system(system: Any) -> str:
    if isinstance(system, str):
        return system
    if isinstance(system, list):
        return "".join(
            str(b.get("text", ""))
            for b in system
            if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _image(block: Mapping[str, Any]) -> str:
    source = block.get("source")
    if not isinstance(source, dict):
        raise CompatError("invalid image source")
    if source.get("type") != "base64":
        raise CompatError(
            f"invalid image source type: {source.get('type')}. Only base64 images are supported."
        )
    return str(source.get("data", ""))


def _tool_result(block: Mapping[str, Any]) -> dict[str, Any]:
    content, texts, images = block.get("content"), [], []
    if isinstance(content, str):
        texts.append(content)
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, dict) and part.get("type") == "text":
                texts.append(str(part.get("text", "")))
            elif isinstance(part, dict) and part.get("type") == "image":
                images.append(_image(part))
    out: dict[str, Any] = {"role": "tool", "content": "".join(texts)}
    if images:
        out["images"] = images
    if block.get("tool_use_id"):
        out["tool_call_id"] = block["tool_use_id"]
    return out


def _tool_use(block: Mapping[str, Any]) -> dict[str, Any]:
    if not block.get("id"):
        raise CompatError("tool_use block missing required 'id' field")
    if not block.get("name"):
        raise CompatError("tool_use block missing required 'name' field")
    args = block.get("input") or {}
    return {"id": block["id"], "function": {"name": block["name"], "arguments": args}}


def _message(msg: Any) -> list[dict[str, Any]]:
    """One Anthropic message → native messages (tool results become ``tool`` messages first)."""
    if not isinstance(msg, dict) or "role" not in msg:
        raise CompatError("each message must be an object with a role")
    role, content = str(msg["role"]).lower(), msg.get("content")
    blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
    if not isinstance(blocks, list):
        raise CompatError("message content must be a string or an array of content blocks")
    text, images, calls, thinking, results = [], [], [], "", []
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "image":
            images.append(_image(block))
        elif kind == "tool_use":
            calls.append(_tool_use(block))
        elif kind == "tool_result":
            results.append(_tool_result(block))
        elif kind == "thinking":
            thinking = str(block.get("thinking") or "")
    main: dict[str, Any] = {"role": role, "content": "".join(text)}
    for key, value in (("images", images), ("tool_calls", calls), ("thinking", thinking)):
        if value:
            main[key] = value
    has_main = bool(main["content"] or images or calls or thinking)
    return results + ([main] if has_main else [])


def _tool(tool: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or not tool.get("name"):
        raise CompatError("each tool needs a name")
    schema = tool.get("input_schema") or {"type": "object", "properties": {}}
    function = {
        "name": tool["name"],
        "description": tool.get("description", ""),
        "parameters": schema,
    }
    return {"type": "function", "function": function}


def _think(req: Mapping[str, Any]) -> Any:
    thinking = req.get("thinking")
    kind = thinking.get("type") if isinstance(thinking, dict) else None
    if kind in ("enabled", "adaptive"):
        return True
    if kind == "disabled":
        return False
    config = req.get("output_config")
    effort = str((config or {}).get("effort") or "").strip().lower()
    effort = "high" if effort == "xhigh" else effort
    return effort if effort in _EFFORTS else None


def _options(req: Mapping[str, Any]) -> dict[str, Any]:
    opts: dict[str, Any] = {"num_predict": req["max_tokens"]}
    for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p"), ("top_k", "top_k")):
        if req.get(theirs) is not None:
            opts[ours] = req[theirs]
    stops = req.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise CompatError("stop_sequences must be an array of strings")
        opts["stop"] = stops
    return opts


def _check(req: Mapping[str, Any]) -> None:
    """Ollama's own checks, in its order and wording."""
    if not req.get("model") or not isinstance(req["model"], str):
        raise CompatError("model is required")
    limit = req.get("max_tokens")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit <= 0:
        raise CompatError("max_tokens is required and must be positive")
    if not isinstance(req.get("messages"), list) or not req["messages"]:
        raise CompatError("messages is required")


def messages_request(req: Mapping[str, Any]) -> dict[str, Any]:
    """An Anthropic ``/v1/messages`` request → native ``/api/chat`` body (streamed internally)."""
    _check(req)
    messages = [{"role": "system", "content": s}] if (s := _system(req.get("system"))) else []
    for msg in req["messages"]:
        messages.extend(_message(msg))
    body: dict[str, Any] = {
        "model": req["model"],
        "messages": messages,
        "options": _options(req),
        "stream": True,
    }
    tools = req.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise CompatError("tools must be an array")
        choice = req.get("tool_choice")
        if not (isinstance(choice, dict) and choice.get("type") == "none"):
            body["tools"] = [_tool(t) for t in tools]
    think = _think(req)
    if think is not None:
        body["think"] = think
    return body


def _block_chars(block: Any) -> int:
    if not isinstance(block, dict):
        return 0
    n = len(str(block.get("text") or "")) + len(str(block.get("thinking") or ""))
    if block.get("type") in ("tool_use", "tool_result"):
        n += len(json.dumps(block, separators=(",", ":")))
    return n


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    return sum(_block_chars(b) for b in content) if isinstance(content, list) else 0


def count_tokens(req: Mapping[str, Any]) -> int:
    """``/v1/messages/count_tokens``: Ollama's estimate, a quarter of the characters of the system
    prompt, roles, texts, tool blocks and tool definitions (at least 1 when there is any input)."""
    if not req.get("model") or not isinstance(req["model"], str):
        raise CompatError("model is required")
    raw = req.get("messages")
    messages: list[Any] = raw if isinstance(raw, list) else []
    chars = _content_chars(req.get("system"))
    for msg in messages:
        if isinstance(msg, dict):
            chars += len(str(msg.get("role", ""))) + _content_chars(msg.get("content"))
    tools = req.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise CompatError("tools must be an array")
    for tool in tools or []:
        if isinstance(tool, dict):
            schema = json.dumps(tool.get("input_schema") or {}, separators=(",", ":"))
            chars += (
                len(str(tool.get("name", ""))) + len(str(tool.get("description", ""))) + len(schema)
            )
    tokens = chars // 4
    return 1 if tokens == 0 and (messages or req.get("system") is not None) else tokens


def stop_reason(done_reason: str, had_tools: bool) -> str:
    """Ollama's ``done_reason`` → Anthropic's ``stop_reason`` (as Ollama maps it)."""
    if had_tools:
        return "tool_use"
    if done_reason == "length":
        return "max_tokens"
    return "end_turn" if done_reason in ("stop", "") else "stop_sequence"


def _tool_blocks(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    blocks = []
    for c in calls:
        fn = c.get("function") or {}
        uid = c.get("id") or new_message_id("toolu")
        blocks.append(
            {
                "type": "tool_use",
                "id": uid,
                "name": fn.get("name", ""),
                "input": fn.get("arguments") or {},
            }
        )
    return blocks


def _usage(final: Mapping[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": int(final.get("prompt_eval_count", 0)),
        "output_tokens": int(final.get("eval_count", 0)),
    }


def message_response(final: Mapping[str, Any], msg_id: str, model: str) -> dict[str, Any]:
    """A joined native chat answer → Anthropic ``message`` object."""
    msg = final.get("message") or {}
    content: list[dict[str, Any]] = []
    if msg.get("thinking"):
        content.append({"type": "thinking", "thinking": msg["thinking"], "signature": ""})
    if msg.get("content"):
        content.append({"type": "text", "text": msg["content"]})
    calls = msg.get("tool_calls") or []
    content.extend(_tool_blocks(calls))
    return {
        "id": msg_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason(str(final.get("done_reason", "")), bool(calls)),
        "stop_sequence": None,
        "usage": _usage(final),
    }


class MessageStream:
    """Native chat stream lines → Anthropic SSE events for one message (Ollama's StreamConverter)."""

    def __init__(self, msg_id: str, model: str) -> None:
        self.msg_id, self.model = msg_id, model
        self.started = False
        self.index = 0
        self.open: str | None = None  # "thinking" | "text": the block being streamed
        self.had_tools = False

    def _start(self, obj: Mapping[str, Any]) -> SseEvent:
        self.started = True
        message: dict[str, Any] = {
            "id": self.msg_id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": int(obj.get("prompt_eval_count", 0)), "output_tokens": 0},
        }
        return ("message_start", {"type": "message_start", "message": message})

    def _close(self) -> list[SseEvent]:
        if self.open is None:
            return []
        self.open = None
        self.index += 1
        return [("content_block_stop", {"type": "content_block_stop", "index": self.index - 1})]

    def _delta(self, kind: str, text: str) -> list[SseEvent]:
        out: list[SseEvent] = []
        if self.open != kind:
            out += self._close()
            self.open = kind
            block = {"type": kind, kind: ""} | ({"signature": ""} if kind == "thinking" else {})
            start = {"type": "content_block_start", "index": self.index, "content_block": block}
            out.append(("content_block_start", start))
        delta = {"type": f"{kind}_delta", kind: text}
        out.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self.index, "delta": delta},
            )
        )
        return out

    def _tools(self, calls: list[dict[str, Any]]) -> list[SseEvent]:
        out = self._close()
        for block in _tool_blocks(calls):
            self.had_tools = True
            args = json.dumps(block["input"], separators=(",", ":"))
            start = {
                "type": "content_block_start",
                "index": self.index,
                "content_block": {**block, "input": {}},
            }
            delta = {"type": "input_json_delta", "partial_json": args}
            out += [
                ("content_block_start", start),
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": self.index, "delta": delta},
                ),
                ("content_block_stop", {"type": "content_block_stop", "index": self.index}),
            ]
            self.index += 1
        return out

    def on_line(self, obj: Mapping[str, Any]) -> list[SseEvent]:
        """The events for one native stream line (the final one closes the message)."""
        out = [] if self.started else [self._start(obj)]
        msg = obj.get("message") or {}
        if msg.get("thinking"):
            out += self._delta("thinking", str(msg["thinking"]))
        if msg.get("content"):
            out += self._delta("text", str(msg["content"]))
        if msg.get("tool_calls"):
            out += self._tools(list(msg["tool_calls"]))
        if obj.get("done"):
            out += self._close()
            reason = stop_reason(str(obj.get("done_reason", "")), self.had_tools)
            delta = {"stop_reason": reason, "stop_sequence": None}
            out.append(
                ("message_delta", {"type": "message_delta", "delta": delta, "usage": _usage(obj)})
            )
            out.append(("message_stop", {"type": "message_stop"}))
        return out
