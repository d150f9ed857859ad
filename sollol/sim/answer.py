"""What a simulated model answers to one request: thinking tokens, then either text, a JSON value
(``format``) or a tool call (``tools``), and why it stopped.

Token budget (``num_predict`` = N, when > 0): thinking and answer share it, as they share a real
model's output. Thinking takes ``floor(N x share)`` tokens (share 0.25 for ``low``, 0.5 for
``true``/``medium``, 0.75 for ``high``/``max``); plain text takes the rest exactly (done_reason
``length``). A JSON value or a tool call is as long as its text (about 4 characters a token) and
ends with done_reason ``stop``; when the budget is smaller it is cut there, mid-value, with
done_reason ``length``, as a grammar-constrained Ollama model is cut by num_predict. A cut tool
call is no tool call: its partial text comes back as content. Without N every length is a seeded
sample, so the same request gets the same answer on every node.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sollol.sim import physics
from sollol.sim.schema_value import Hints, schema_value
from sollol.sim.textgen import TokenPlan, plan_tokens, prefix_tokens

__all__ = ["Answer", "AnswerSpec", "json_tokens", "plan_answer"]

_THINK_SHARE = {"low": 0.25, "medium": 0.5, "high": 0.75, "max": 0.75}
_THINK_MEDIAN = {"low": 24, "medium": 64, "high": 160, "max": 320}
_THINK_SALT = 0x7417
_ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


@dataclass(frozen=True)
class AnswerSpec:
    """The parts of a request that decide the answer (all already validated)."""

    node_seed: int
    model: str  # normalized name
    prompt: str
    options_seed: int | None
    num_predict: int | None
    think: str | None = None  # None: no thinking; else "low" | "medium" | "high" | "max"
    format: str | dict[str, Any] | None = None  # "json" or a JSON schema
    tools: tuple[dict[str, Any], ...] = ()  # only when a tool call is due
    last_user: str = ""  # the last user message (picks the tool, fills its arguments)
    prefill: str = ""  # a trailing assistant message: the start of the answer, to continue


@dataclass(frozen=True)
class Answer:
    """The planned output. ``words()`` yields every generated token in order: first
    ``thinking`` tokens, then ``len(body)`` tokens of the answer. A ``buffered`` body (a tool
    call's text) is not streamed as it is generated: it becomes ``tool_calls`` when complete,
    else content sent at the end."""

    thinking: int
    body: TokenPlan | tuple[str, ...]
    done_reason: str
    seed: int
    tool_calls: tuple[dict[str, Any], ...] = ()
    buffered: bool = False

    @property
    def count(self) -> int:
        return self.thinking + self.body_count

    @property
    def body_count(self) -> int:
        return self.body.count if isinstance(self.body, TokenPlan) else len(self.body)

    def words(self) -> Iterator[str]:
        thoughts = TokenPlan(self.thinking, "length", self.seed ^ _THINK_SALT).words()
        body = self.body.words() if isinstance(self.body, TokenPlan) else iter(self.body)
        return itertools.chain(thoughts, body)

    @property
    def thinking_text(self) -> str:
        return "".join(itertools.islice(self.words(), self.thinking))

    @property
    def body_text(self) -> str:
        return "".join(itertools.islice(self.words(), self.thinking, None))


def plan_answer(spec: AnswerSpec) -> Answer:
    """The answer to ``spec``: deterministic in every field of it."""
    seed = physics.seed_for(spec.node_seed, spec.model, spec.prompt, spec.options_seed)
    budget = spec.num_predict if spec.num_predict is not None and spec.num_predict > 0 else None
    thinking = _thinking_tokens(spec.think, budget, seed)
    left = None if budget is None else budget - thinking
    if spec.tools:
        return _tool_answer(spec, seed, thinking, left)
    if spec.format is not None:
        value = schema_value(spec.format if isinstance(spec.format, dict) else {}, _rng(seed))
        tokens, reason = _cut(json_tokens(json.dumps(value, ensure_ascii=False)), left)
        return Answer(thinking, tokens, reason, seed)
    if spec.prefill:
        body = _continued(spec, seed, left)
    elif left is None:
        body = plan_tokens(spec.node_seed, spec.model, spec.prompt, spec.options_seed, None)
    else:
        body = TokenPlan(left, "length", seed)
    return Answer(thinking, body, body.done_reason if left is None else "length", seed)


def _continued(spec: AnswerSpec, seed: int, left: int | None) -> TokenPlan:
    """The rest of an answer that starts with ``spec.prefill``: when the prefill is what this
    node says to the prompt, exactly the tokens that follow it (so a continued answer joins into
    the uninterrupted one); otherwise as many of this node's tokens from about that position."""
    said = prefix_tokens(seed, spec.prefill)
    skip = said if said is not None else physics.count_tokens(spec.prefill)
    if left is not None:
        return TokenPlan(left, "length", seed, skip=skip)
    whole = plan_tokens(spec.node_seed, spec.model, spec.prompt, spec.options_seed, None)
    return TokenPlan(max(0, whole.count - skip), "stop", seed, skip=skip)


def _rng(seed: int) -> random.Random:
    return random.Random(seed ^ 0x15011)


def _thinking_tokens(level: str | None, budget: int | None, seed: int) -> int:
    if level is None:
        return 0
    if budget is not None:
        return int(budget * _THINK_SHARE[level])
    rng = random.Random(seed ^ _THINK_SALT)
    return physics.sample_output_tokens(rng, median=_THINK_MEDIAN[level], sigma=0.5, cap=1024)


def json_tokens(text: str) -> tuple[str, ...]:
    """Split generated JSON text into tokens of about 4 characters (``count_tokens``' rate)."""
    return tuple(text[i : i + 4] for i in range(0, len(text), 4))


def _cut(tokens: tuple[str, ...], left: int | None) -> tuple[tuple[str, ...], str]:
    if left is not None and left < len(tokens):
        return tokens[: max(0, left)], "length"
    return tokens, "stop"


def _tool_answer(spec: AnswerSpec, seed: int, thinking: int, left: int | None) -> Answer:
    """One call of the tool the last user message names (else the first tool)."""
    function = pick_tool(spec.tools, spec.last_user).get("function") or {}
    name = str(function.get("name", ""))
    arguments = tool_arguments(function.get("parameters"), spec.last_user, _rng(seed))
    text = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
    tokens, reason = _cut(json_tokens(text), left)
    rng = random.Random(seed ^ 0xCA11)
    call = {
        "id": "call_" + "".join(rng.choice(_ID_CHARS) for _ in range(8)),
        "function": {"index": 0, "name": name, "arguments": arguments},
    }
    calls = (call,) if reason == "stop" else ()
    return Answer(thinking, tokens, reason, seed, tool_calls=calls, buffered=True)


def pick_tool(tools: Sequence[dict[str, Any]], message: str) -> dict[str, Any]:
    """The first tool whose name, or a word of 4+ letters of it (``get_weather`` → "weather",
    ``searchWeb`` → "search"), occurs in the message as a word, ignoring case; else the first."""
    words = set(re.findall(r"[a-z0-9_]+", message.lower()))
    for tool in tools:
        name = str((tool.get("function") or {}).get("name", ""))
        parts = re.findall(r"[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])", name)
        keys = {name.lower()} | {p.lower() for p in parts if len(p) >= 4}
        if name and keys & words:
            return tool
    return tools[0]


def tool_arguments(parameters: Any, message: str, rng: random.Random) -> dict[str, Any]:
    """Arguments valid under the tool's ``parameters`` schema: its required properties (all of
    them when none is required). String values take the message's capitalized words after its
    first word, numbers the message's numbers, each in order; the rest are seeded values."""
    schema = parameters if isinstance(parameters, dict) else {}
    props = schema.get("properties") or {}
    required = [k for k in schema.get("required") or () if k in props] or list(props)
    if not required:
        return {}
    chosen = {**schema, "type": "object", "properties": {k: props[k] for k in required}}
    value = schema_value(chosen, rng, message_hints(message))
    return value if isinstance(value, dict) else {}


def message_hints(message: str) -> Hints:
    """Capitalized words after the first word, and the numbers, of ``message``."""
    words = re.findall(r"[A-Za-z][\w'-]*", message)
    strings = [w for w in words[1:] if w[0].isupper() and w != "I"]
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", message)]
    return Hints(strings, numbers, message.lower())
