"""The objects of Ollama's native text answers, built from an :class:`~sollol.sim.answer.Answer`
as its tokens come out of the engine.

Stream (as Ollama 0.32's chat handler writes it): one line per token, thinking tokens in
``message.thinking`` (generate: ``thinking``) with empty content, then content tokens; a tool
call is not streamed as it is generated but sent whole in one ``done:false`` line with
``content:""``; the ``done:true`` line carries done_reason and the metrics (and, when a tool call
was cut by num_predict, its partial text as content). Non-stream: the same, joined into one
object. ``logprobs``: one deterministic entry per token, on the line that carries the token.
"""

from __future__ import annotations

import itertools
from typing import Any

from sollol.sim import physics
from sollol.sim.answer import Answer
from sollol.sim.protocol import dumps, ndjson_line, rfc3339_utc
from sollol.sim.textgen import context_ids
from sollol.sim.textrequest import TextRequest

__all__ = ["NativeChunks", "logprob_entries"]

# top_logprobs alternatives: at most 20 are asked for, and the chosen token is one of them
_ALTERNATIVES = (
    " the",
    " a",
    " and",
    " of",
    " to",
    " in",
    " is",
    " it",
    " that",
    " for",
    " on",
    " with",
    " as",
    " this",
    " by",
    " at",
    " from",
    " or",
    " an",
    " be",
    ".",
)


class NativeChunks:
    """Encodes one request's answer: token lines while it streams, then the final object."""

    def __init__(self, req: TextRequest, answer: Answer, prompt_tokens: int) -> None:
        self.req, self.answer, self.prompt_tokens = req, answer, prompt_tokens
        self.position = 0  # tokens encoded so far
        self.chat = req.kind == "chat"
        prefix = '{"model":' + dumps(req.model) + ',"created_at":"'
        if self.chat:
            self._open, self._close = (
                '"message":{"role":"assistant","content":',
                '},"done":false}\n',
            )
        else:
            self._open, self._close = '"response":', ',"done":false}\n'
        self._prefix = prefix

    def head(self) -> dict[str, Any]:
        return {"model": self.req.model, "created_at": rfc3339_utc()}

    def message(self, content: str, thinking: str = "", calls: Any = ()) -> dict[str, Any]:
        if not self.chat:
            return {"response": content, **({"thinking": thinking} if thinking else {})}
        msg: dict[str, Any] = {"role": "assistant", "content": content}
        if thinking:
            msg["thinking"] = thinking
        if calls:
            msg["tool_calls"] = list(calls)
        return {"message": msg}

    def encode(self, tokens: tuple[str, ...]) -> bytes:
        """NDJSON lines for the next generated ``tokens`` (buffered tool-call text: none)."""
        start, self.position = self.position, self.position + len(tokens)
        thinking = self.answer.thinking
        if self.req.logprobs or start < thinking:
            return b"".join(self._line(start + i, t) for i, t in enumerate(tokens))
        if self.answer.buffered:
            return b""
        # The common case, built by string concatenation: it runs for every streamed token.
        head = f'{self._prefix}{rfc3339_utc()}",{self._open}'
        return "".join(f"{head}{dumps(t)}{self._close}" for t in tokens).encode()

    async def encode_silently(self, tokens: tuple[str, ...]) -> None:
        """Count ``tokens`` without encoding them (a non-stream answer is built at the end)."""
        self.position += len(tokens)

    def _line(self, index: int, token: str) -> bytes:
        if index >= self.answer.thinking and self.answer.buffered:
            return b""
        if index < self.answer.thinking:
            obj = {**self.head(), **self.message("", thinking=token), "done": False}
        else:
            obj = {**self.head(), **self.message(token), "done": False}
        if self.req.logprobs:
            obj["logprobs"] = logprob_entries(self.answer.seed, index, [token], self.req)
        return ndjson_line(obj)

    def tool_call_line(self) -> bytes:
        """The whole tool call, after its tokens were generated (nothing if there is none)."""
        if not self.answer.tool_calls:
            return b""
        obj = {**self.head(), **self.message("", calls=self.answer.tool_calls), "done": False}
        if self.req.logprobs:
            obj["logprobs"] = self._body_logprobs()
        return ndjson_line(obj)

    def final(self, metrics: dict[str, int], whole: bool) -> dict[str, Any]:
        """The ``done:true`` object; ``whole``: the non-stream answer with every part joined."""
        a = self.answer
        leftover = a.body_text if a.buffered and not a.tool_calls else ""
        if whole:
            content = leftover if a.buffered else a.body_text
            body = self.message(content, a.thinking_text, a.tool_calls)
        else:
            body = self.message(leftover)
        obj = {**self.head(), **body, "done": True, "done_reason": a.done_reason}
        if self.req.kind == "generate" and not self.req.raw:
            obj["context"] = context_ids(self.prompt_tokens, a.seed, self.position)
        obj.update(metrics)
        if whole and self.req.logprobs:
            tokens = list(itertools.islice(a.words(), self.position))
            obj["logprobs"] = logprob_entries(a.seed, 0, tokens, self.req)
        elif leftover and self.req.logprobs:
            obj["logprobs"] = self._body_logprobs()
        return obj

    def _body_logprobs(self) -> list[dict[str, Any]]:
        start = self.answer.thinking
        tokens = list(itertools.islice(self.answer.words(), start, self.position))
        return logprob_entries(self.answer.seed, start, tokens, self.req)


def logprob_entries(
    seed: int, start: int, tokens: list[str], req: TextRequest
) -> list[dict[str, Any]]:
    """Ollama's ``logprobs`` entries for ``tokens`` (the ``start``-th token onwards): the token,
    a logprob in (-2, 0] fixed by (seed, position), its UTF-8 bytes, and ``top_logprobs``
    alternatives (the token itself first, then more and more unlikely ones)."""
    out = []
    for i, token in enumerate(tokens, start):
        logprob = -(physics.seed_for(seed, i) % 2000) / 1000.0
        entry = _token_logprob(token, logprob)
        if req.top_logprobs:
            alternatives = [a for a in _ALTERNATIVES if a != token]
            top = [entry] + [
                _token_logprob(alt, logprob - 1.0 - k) for k, alt in enumerate(alternatives)
            ]
            entry = {**entry, "top_logprobs": top[: req.top_logprobs]}
        out.append(entry)
    return out


def _token_logprob(token: str, logprob: float) -> dict[str, Any]:
    entry: dict[str, Any] = {"token": token, "logprob": round(logprob, 6)}
    if token:
        entry["bytes"] = list(token.encode())
    return entry
