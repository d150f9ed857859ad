"""Continuing an answer that was cut mid-stream: what reached the client, and the request that
asks another host for the rest.

A streamed attempt that dies after lines reached the client (node error or drop, worker lost,
Redis restart, stalled stream) is not replayed — the client would get the text twice — but
*continued*: the next attempt is asked for the rest of the same answer.

- **chat**: the conversation plus a trailing assistant message holding the text already sent.
  Ollama renders a final assistant message without closing it, so the model goes on from there.
- **generate** (``raw``): the prompt with the partial answer appended, still raw.
- **generate** (templated): Ollama applies the model's template to ``[system, user: prompt]``,
  which is exactly what a chat request with those messages renders; the continuation is that chat
  request plus the trailing assistant message, and its lines are turned back into generate lines.

``num_predict``, when set, is lowered by the tokens already sent (one streamed line with text is
one token, as Ollama streams them). The final line of the last attempt is rewritten so its counts
cover the whole answer. Cases that cannot be continued honestly raise :class:`NotContinuable`:
a tool call already sent, a ``format`` (JSON) answer, thinking still in progress, a templated
generate with ``suffix``, ``template`` or ``context``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "NotContinuable",
    "Transcript",
    "as_generate_line",
    "continued_job",
    "merged_final",
    "synthetic_final",
]

_COMPACT = (",", ":")


class NotContinuable(Exception):
    """This answer cannot be continued elsewhere without faking it; the message says why."""


@dataclass
class Transcript:
    """What one client's answer has sent so far (in the client endpoint's native shape)."""

    endpoint: str  # chat | generate
    content: list[str] = field(default_factory=list)
    thinking: list[str] = field(default_factory=list)
    tokens: int = 0  # lines that carried text or thinking: Ollama streams one token a line
    tool_calls: bool = False
    eval_ns: int = 0  # generation time of the attempts that died (their first to last line)
    _first_at: float | None = None
    _last_at: float | None = None

    def note(self, line: bytes) -> None:
        """Record one chunk line that was handed to the client."""
        try:
            obj = json.loads(line)
        except ValueError:
            return
        if not isinstance(obj, dict):
            return
        part = obj.get("message") if self.endpoint == "chat" else obj
        if not isinstance(part, dict):
            return
        text = part.get("content" if self.endpoint == "chat" else "response")
        thought = part.get("thinking")
        if part.get("tool_calls"):
            self.tool_calls = True
        if isinstance(text, str) and text:
            self.content.append(text)
        if isinstance(thought, str) and thought:
            self.thinking.append(thought)
        if (isinstance(text, str) and text) or (isinstance(thought, str) and thought):
            self.tokens += 1
            now = time.monotonic()
            self._first_at = self._first_at if self._first_at is not None else now
            self._last_at = now

    def attempt_ended(self) -> None:
        """The current attempt died: bank its generation time and start timing the next one."""
        if self._first_at is not None and self._last_at is not None:
            self.eval_ns += int((self._last_at - self._first_at) * 1e9)
        self._first_at = self._last_at = None

    @property
    def text(self) -> str:
        return "".join(self.content)

    @property
    def thought(self) -> str:
        return "".join(self.thinking)


def continued_job(
    endpoint: str, body: dict[str, Any], sent: Transcript
) -> tuple[str, dict[str, Any]] | None:
    """The (endpoint, native body) that asks for the rest of the answer; None when ``num_predict``
    is already used up (the answer is complete). Raises :class:`NotContinuable`."""
    if endpoint not in ("chat", "generate"):
        raise NotContinuable(f"/api/{endpoint} answers are not streamed")
    if sent.tool_calls:
        raise NotContinuable("a tool call was already sent")
    if body.get("format") not in (None, ""):
        raise NotContinuable("a partial JSON answer (format) cannot be continued")
    if sent.thinking and not sent.content:
        raise NotContinuable("the model was still thinking")
    options = dict(body.get("options") or {})
    limit = options.get("num_predict")
    if isinstance(limit, int) and limit > 0:
        if limit - sent.tokens <= 0:
            return None
        options["num_predict"] = limit - sent.tokens
    out = {**body, "options": options} if options else dict(body)
    if sent.thinking or body.get("think") not in (None, False):
        out["think"] = False  # the thinking is over: only the answer goes on
    if endpoint == "chat":
        return "chat", {**out, "messages": [*body.get("messages", ()), _assistant(sent)]}
    if body.get("raw"):
        return "generate", {**out, "prompt": str(body.get("prompt", "")) + sent.text}
    for name in ("suffix", "template", "context"):
        if body.get(name):
            raise NotContinuable(f"a generate request with {name} cannot be continued")
    return "chat", _generate_as_chat(out, sent)


def _assistant(sent: Transcript) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": sent.text}
    if sent.thinking:
        message["thinking"] = sent.thought
    return message


def _generate_as_chat(body: dict[str, Any], sent: Transcript) -> dict[str, Any]:
    """A templated generate request as the chat request Ollama renders the same way."""
    user: dict[str, Any] = {"role": "user", "content": str(body.get("prompt", ""))}
    if body.get("images"):
        user["images"] = body["images"]
    system = [{"role": "system", "content": body["system"]}] if body.get("system") else []
    chat = {k: v for k, v in body.items() if k not in ("prompt", "system", "images", "raw")}
    return {**chat, "messages": [*system, user, _assistant(sent)]}


def as_generate_line(line: bytes) -> bytes:
    """One /api/chat stream line as the /api/generate line it stands for."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        return line
    message = obj.pop("message", None) or {}
    out: dict[str, Any] = {"model": obj.pop("model", ""), "created_at": obj.pop("created_at", "")}
    out["response"] = message.get("content") or ""
    if message.get("thinking"):
        out["thinking"] = message["thinking"]
    out.update(obj)
    return json.dumps(out, separators=_COMPACT).encode()


def merged_final(line: bytes, sent_before: Transcript, carried: int, t0: float) -> bytes:
    """The last attempt's final line with counts covering the whole answer: ``eval_count`` plus
    the ``carried`` tokens earlier attempts sent, their generation time added to
    ``eval_duration``, ``total_duration`` from the request's arrival (``t0``, monotonic s)."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        return line
    obj["eval_count"] = int(obj.get("eval_count") or 0) + carried
    obj["eval_duration"] = int(obj.get("eval_duration") or 0) + sent_before.eval_ns
    obj["total_duration"] = int((time.monotonic() - t0) * 1e9)
    obj.pop("context", None)  # the continuation's tokens, not this conversation's
    return json.dumps(obj, separators=_COMPACT).encode()


def synthetic_final(endpoint: str, model: str, sent: Transcript, t0: float) -> bytes:
    """The final line of an answer whose ``num_predict`` was used up when its attempt died."""
    obj: dict[str, Any] = {
        "model": model,
        "created_at": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if endpoint == "chat":
        obj["message"] = {"role": "assistant", "content": ""}
    else:
        obj["response"] = ""
    obj.update(done=True, done_reason="length", total_duration=int((time.monotonic() - t0) * 1e9))
    obj.update(eval_count=sent.tokens, eval_duration=sent.eval_ns)
    return json.dumps(obj, separators=_COMPACT).encode()
