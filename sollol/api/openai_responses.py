"""Native Ollama answers → OpenAI objects and SSE chunks, shaped as current Ollama sends them
(a separate finish chunk, an optional usage chunk, ``fp_ollama``; docs/ollama-api.md §5)."""

from __future__ import annotations

import base64
import json
import random
import struct
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "FINGERPRINT",
    "ChatStreamState",
    "CompletionStreamState",
    "chat_completion",
    "completion",
    "completion_chunk",
    "embeddings_response",
    "models_list",
    "new_id",
]

FINGERPRINT = "fp_ollama"


def new_id(prefix: str, rng: random.Random | None = None) -> str:
    """``chatcmpl-N`` / ``cmpl-N`` with a small random N, as Ollama does."""
    return f"{prefix}-{(rng or random).randint(0, 998)}"


def _usage(final: Mapping[str, Any]) -> dict[str, int]:
    p, c = int(final.get("prompt_eval_count", 0)), int(final.get("eval_count", 0))
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _finish_reason(final: Mapping[str, Any], had_tools: bool) -> str:
    if had_tools:
        return "tool_calls"
    return "length" if final.get("done_reason") == "length" else "stop"


def _openai_tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, c in enumerate(calls):
        fn = c.get("function") or {}
        out.append(
            {
                "id": c.get("id") or f"call_{i}",
                "index": fn.get("index", i),
                "type": "function",
                "function": {
                    "name": fn.get("name", ""),
                    "arguments": json.dumps(fn.get("arguments", {})),
                },
            }
        )
    return out


def _with_logprobs(choice: dict[str, Any], native: Mapping[str, Any]) -> dict[str, Any]:
    """``choice`` with ``logprobs: {"content": [...]}`` when the native line carries them (Ollama
    passes its per-token entries — token, logprob, bytes, top_logprobs — through unchanged)."""
    if native.get("logprobs"):
        choice["logprobs"] = {"content": list(native["logprobs"])}
    return choice


def chat_completion(final: Mapping[str, Any], cid: str, created: int) -> dict[str, Any]:
    """A joined native chat answer (``stream:false`` shape) → chat.completion object."""
    msg = final.get("message") or {}
    tools = msg.get("tool_calls") or []
    message: dict[str, Any] = {"role": "assistant", "content": msg.get("content", "")}
    if msg.get("thinking"):
        message["reasoning"] = msg["thinking"]
    if tools:
        message["tool_calls"] = _openai_tool_calls(tools)
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": final.get("model", ""),
        "system_fingerprint": FINGERPRINT,
        "choices": [
            _with_logprobs(
                {
                    "index": 0,
                    "message": message,
                    "finish_reason": _finish_reason(final, bool(tools)),
                },
                final,
            )
        ],
        "usage": _usage(final),
    }


class ChatStreamState:
    """Turns native chat stream lines into chat.completion.chunk objects for one response."""

    def __init__(self, cid: str, model: str, include_usage: bool) -> None:
        self.cid, self.model, self.include_usage = cid, model, include_usage
        self.created = int(time.time())
        self.first = True
        self.had_tools = False

    def _chunk(self, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        if self.first and "role" not in delta:
            delta = {"role": "assistant", **delta}
        self.first = False
        return {
            "id": self.cid,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    def on_line(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Chunks for one native line (several for a final line: content, finish, usage)."""
        msg = obj.get("message") or {}
        out = []
        if msg.get("thinking"):
            out.append(self._chunk({"reasoning": msg["thinking"]}, None))
        if msg.get("tool_calls"):
            self.had_tools = True
            out.append(self._chunk({"tool_calls": _openai_tool_calls(msg["tool_calls"])}, None))
        if msg.get("content") or (not obj.get("done") and not out):
            chunk = self._chunk({"content": msg.get("content", "")}, None)
            _with_logprobs(chunk["choices"][0], obj)
            out.append(chunk)
        if obj.get("done"):
            out.append(self._chunk({}, _finish_reason(obj, self.had_tools)))
            if self.include_usage:
                out.append(
                    {
                        "id": self.cid,
                        "object": "chat.completion.chunk",
                        "created": self.created,
                        "model": self.model,
                        "system_fingerprint": FINGERPRINT,
                        "choices": [],
                        "usage": _usage(obj),
                    }
                )
        return out


def completion(final: Mapping[str, Any], cid: str, created: int) -> dict[str, Any]:
    """A joined native generate answer → text_completion object."""
    return {
        "id": cid,
        "object": "text_completion",
        "created": created,
        "model": final.get("model", ""),
        "system_fingerprint": FINGERPRINT,
        "choices": [
            _with_logprobs(
                {
                    "text": final.get("response", ""),
                    "index": 0,
                    "finish_reason": _finish_reason(final, False),
                },
                final,
            )
        ],
        "usage": _usage(final),
    }


def completion_chunk(obj: Mapping[str, Any], cid: str, model: str) -> dict[str, Any]:
    done = bool(obj.get("done"))
    return {
        "id": cid,
        "object": "text_completion",
        "created": int(time.time()),
        "choices": [
            _with_logprobs(
                {
                    "text": obj.get("response", ""),
                    "index": 0,
                    "finish_reason": _finish_reason(obj, False) if done else None,
                },
                obj,
            )
        ],
        "model": model,
        "system_fingerprint": FINGERPRINT,
    }


class CompletionStreamState:
    """Native generate stream lines → text_completion chunks; with ``include_usage``, as Ollama
    sends them, every chunk carries zero usage and a last ``choices: []`` chunk the real one."""

    def __init__(self, cid: str, model: str, include_usage: bool) -> None:
        self.cid, self.model, self.include_usage = cid, model, include_usage

    def on_line(self, obj: Mapping[str, Any]) -> list[dict[str, Any]]:
        chunk = completion_chunk(obj, self.cid, self.model)
        if not self.include_usage:
            return [chunk]
        chunk["usage"] = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        if not obj.get("done"):
            return [chunk]
        final = {**chunk, "choices": [], "usage": _usage(obj)}
        return [chunk, final]


def embeddings_response(native: Mapping[str, Any], model: str, encoding: str) -> dict[str, Any]:
    data = []
    for i, vec in enumerate(native.get("embeddings") or []):
        value: Any = vec
        if encoding == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode()
        data.append({"object": "embedding", "embedding": value, "index": i})
    tokens = int(native.get("prompt_eval_count", 0))
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def models_list(installed: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """/api/tags models → /v1/models (``data`` is null when there are none, as in Ollama)."""
    from sollol.names import owner_of
    from sollol.state.snapshot import expires_timestamp

    data = [
        {
            "id": m.get("name", ""),
            "object": "model",
            "created": int(expires_timestamp(str(m.get("modified_at", ""))) or 0),
            "owned_by": owner_of(str(m.get("name", ""))),
        }
        for m in installed
    ]
    return {"object": "list", "data": data or None}
