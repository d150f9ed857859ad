"""The objects Ollama's OpenAI layer (openai/openai.go, middleware/openai.go in Ollama 0.32)
makes of one answer: ``chat.completion`` / ``text_completion`` and their stream chunks.

Chat stream: ``role`` on the first chunk only; a thinking token is ``delta.reasoning`` (with
``content:""``); a tool call arrives whole in one delta, ``arguments`` a JSON string; then a
separate finish chunk with ``delta:{}`` and ``finish_reason`` (``tool_calls`` when a call was
sent and the model stopped), a ``choices:[]`` usage chunk with ``include_usage``, ``[DONE]``.
Completions: one chunk per native chunk (``text:""`` for thinking tokens, which completions do
not show), ``created`` taken per chunk, zero usage on every chunk with ``include_usage``.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any

from sollol.sim.answer import Answer
from sollol.sim.chunks import logprob_entries
from sollol.sim.protocol import dumps
from sollol.sim.textrequest import TextRequest

__all__ = ["Shape", "event", "usage"]

_ids = random.Random()  # Ollama's ids are a random small integer, not unique
_FINGERPRINT = "fp_ollama"


def event(obj: dict[str, Any]) -> bytes:
    return f"data: {dumps(obj)}\n\n".encode()


def usage(prompt: int, completion: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def openai_tool_calls(calls: tuple[dict[str, Any], ...]) -> list[dict[str, Any]]:
    """Native tool calls → OpenAI's: ``type`` function, ``index`` beside ``id``, arguments as a
    JSON string."""
    return [
        {
            "id": c["id"],
            "index": c["function"]["index"],
            "type": "function",
            "function": {
                "name": c["function"]["name"],
                "arguments": dumps(c["function"]["arguments"]),
            },
        }
        for c in calls
    ]


class Shape:
    """Builds one response's chat.completion(.chunk) or text_completion objects."""

    def __init__(self, kind: str, model: str, include_usage: bool, req: TextRequest) -> None:
        self.chat = kind == "chat"
        self.model, self.include_usage, self.req = model, include_usage, req
        self.id = f"{'chatcmpl' if self.chat else 'cmpl'}-{_ids.randrange(999)}"
        self.created = int(time.time())
        self._first = True
        self.position = 0
        self.tool_call_sent = False

    def _base(self, chunk: bool) -> dict[str, Any]:
        obj = "chat.completion" + (".chunk" if chunk else "") if self.chat else "text_completion"
        created = self.created if self.chat else int(time.time())  # completions: per chunk
        return {
            "id": self.id,
            "object": obj,
            "created": created,
            "model": self.model,
            "system_fingerprint": _FINGERPRINT,
        }

    def whole(self, answer: Answer, produced: int, use: dict[str, int]) -> dict[str, Any]:
        """The non-stream object of ``answer`` (its first ``produced`` tokens were generated)."""
        reason = answer.done_reason
        content = answer.body_text if not answer.tool_calls else ""
        if not self.chat:
            choice: dict[str, Any] = {"text": content, "index": 0, "finish_reason": reason}
            return {**self._base(False), "choices": [choice], "usage": use}
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if answer.thinking:
            message["reasoning"] = answer.thinking_text
        if answer.tool_calls:
            message["tool_calls"] = openai_tool_calls(answer.tool_calls)
            reason = "tool_calls" if reason == "stop" else reason
        choice = {"index": 0, "message": message, "finish_reason": reason}
        if self.req.logprobs:
            tokens = list(itertools.islice(answer.words(), produced))
            choice["logprobs"] = {"content": logprob_entries(answer.seed, 0, tokens, self.req)}
        return {**self._base(False), "choices": [choice], "usage": use}

    def empty(self) -> dict[str, Any]:
        """The answer to a load-only request: no text, zero usage."""
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": ""},
                "finish_reason": "stop",
            }
        else:
            choice = {"text": "", "index": 0, "finish_reason": "stop"}
        return {**self._base(False), "choices": [choice], "usage": usage(0, 0)}

    def token_events(self, answer: Answer, tokens: tuple[str, ...]) -> bytes:
        """SSE events for the next generated ``tokens`` (none for a tool call's buffered text)."""
        out = []
        for token in tokens:
            index, self.position = self.position, self.position + 1
            thinking = index < answer.thinking
            if not thinking and answer.buffered:
                continue
            if not self.chat:
                out.append(event(self._completion_chunk("" if thinking else token, None)))
                continue
            delta = {"content": "", "reasoning": token} if thinking else {"content": token}
            logprobs = logprob_entries(answer.seed, index, [token], self.req)
            out.append(event(self._chat_chunk(delta, logprobs if self.req.logprobs else None)))
        return b"".join(out)

    def tail_events(self, answer: Answer) -> bytes:
        """After generation: the whole tool call, or a cut call's text as content."""
        if answer.tool_calls and self.chat:
            self.tool_call_sent = True
            delta = {"content": "", "tool_calls": openai_tool_calls(answer.tool_calls)}
            return event(self._chat_chunk(delta, None))
        if answer.buffered and answer.body_count:
            text = answer.body_text
            return event(self._chat_chunk({"content": text}, None))
        return b""

    def _chat_chunk(self, delta: dict[str, Any], logprobs: Any) -> dict[str, Any]:
        if self._first:
            delta = {"role": "assistant", **delta}
            self._first = False
        choice: dict[str, Any] = {"index": 0, "delta": delta, "finish_reason": None}
        if logprobs:
            choice["logprobs"] = {"content": logprobs}
        return {**self._base(True), "choices": [choice]}

    def _completion_chunk(self, text: str, reason: str | None) -> dict[str, Any]:
        choice = {"text": text, "index": 0, "finish_reason": reason}
        obj = {**self._base(True), "choices": [choice]}
        if self.include_usage:
            obj["usage"] = usage(0, 0)  # Ollama puts zero usage on every completion chunk
        return obj

    def finish(self, reason: str | None) -> dict[str, Any]:
        """The finish chunk (``reason`` None: the stray chunk of a failed stream)."""
        if not self.chat:
            return self._completion_chunk("", reason)
        if reason == "stop" and self.tool_call_sent:
            reason = "tool_calls"
        choice = {"index": 0, "delta": {}, "finish_reason": reason}
        return {**self._base(True), "choices": [choice]}

    def usage_chunk(self, use: dict[str, int]) -> dict[str, Any]:
        return {**self._base(True), "choices": [], "usage": use}
