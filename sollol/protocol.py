"""Ollama's streamed answers, joined: what Ollama itself returns for ``"stream": false``.

Workers always call Ollama with streaming on (liveness, cancellation, timings). When the client
asked for a single object, the worker joins the lines here and sends one final object, so the
gateway is woken once per answer rather than once per token.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["AnswerJoiner"]


class AnswerJoiner:
    """Accumulates the lines of one chat/generate answer; :meth:`result` is the joined object."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.text: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[Any] = []
        # per generated token, top level on each line (Ollama 0.12.11); joined like the text
        self.logprobs: list[Any] = []
        self.final: dict[str, Any] = {}

    def add(self, obj: dict[str, Any]) -> None:
        part = obj.get("message") or {} if self.endpoint == "chat" else obj
        self.text.append(part.get("content" if self.endpoint == "chat" else "response") or "")
        self.thinking.append(part.get("thinking") or "")
        self.tool_calls.extend(part.get("tool_calls") or [])
        self.logprobs.extend(obj.get("logprobs") or [])
        if obj.get("done"):
            self.final = obj

    def add_lines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.add(json.loads(line))

    def result(self) -> dict[str, Any]:
        final = dict(self.final)
        if self.logprobs:
            final["logprobs"] = self.logprobs
        text, thinking = "".join(self.text), "".join(self.thinking)
        if self.endpoint == "chat":
            msg = dict(final.get("message") or {"role": "assistant"})
            msg["content"] = text
            if thinking:
                msg["thinking"] = thinking
            if self.tool_calls:
                msg["tool_calls"] = self.tool_calls
            final["message"] = msg
        else:
            final["response"] = text
            if thinking:
                final["thinking"] = thinking
        return final
