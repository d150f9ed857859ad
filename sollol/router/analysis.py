"""Request analysis: an Ollama-native request body → :class:`RequestProfile` (task type,
complexity, token estimates, session key, the prompt's prefix blocks and num_ctx). Pure; keyword
heuristics are whole-word regexes.

Embedding is decided by the endpoint alone (``/api/embed``, ``/api/embeddings``), never by words:
"What is a vector?" sent to ``/api/chat`` is a chat.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sollol.names import normalize_model
from sollol.router.capability import required_capabilities
from sollol.router.model import PRIORITY_LEVELS, RequestProfile
from sollol.router.prefix import prompt_blocks

__all__ = ["ENDPOINTS", "TASK_TYPES", "analyse_request", "classify_text", "count_tokens"]

ENDPOINTS = ("chat", "generate", "embed", "embeddings", "show")
TASK_TYPES = (
    "show",  # /api/show: model metadata, no generation (nothing to load, nothing to learn)
    "generation",
    "chat",
    "embedding",
    "classification",
    "extraction",
    "summarization",
    "analysis",
    "code",
)
EMBED_ENDPOINTS = frozenset({"embed", "embeddings"})

_FLAGS = re.IGNORECASE
# Checked in this order: the first match wins. An explicit instruction ("summarize", "classify",
# "extract") beats the material it applies to (code inside a fence may be what gets summarized).
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "summarization",
        re.compile(
            r"\b(summari[sz]e|summari[sz]ing|summary|tl;?dr|condense|recap|key takeaways)\b", _FLAGS
        ),
    ),
    (
        "classification",
        re.compile(
            r"\b(classify|classification|categori[sz]e|which category|sentiment analysis"
            r"|label (this|these|each|the following)|spam or not|(positive|negative) or "
            r"(negative|positive|neutral))\b",
            _FLAGS,
        ),
    ),
    (
        "extraction",
        re.compile(
            r"\b(extract|pull out|list all the|find all the|named entities|return (it|them) as json"
            r"|parse (this|the following))\b",
            _FLAGS,
        ),
    ),
    (
        "code",
        re.compile(
            r"```|\b(python|javascript|typescript|golang|rust code|java code|c\+\+|sql|bash script"
            r"|shell script|regex|traceback|stack trace|segfault|compile error|source code"
            r"|unit tests?|refactor)\b|\b(write|implement|fix|debug|optimi[sz]e|review)\b[^.?!\n]{0,40}"
            r"\b(code|function|script|program|class|method|query|api|endpoint)s?\b"
            r"|\bdef \w+\(|\bfunction \w+\(",
            _FLAGS,
        ),
    ),
    (
        "analysis",
        re.compile(
            r"\b(analy[sz]e|analysis|compare|contrast|evaluate|assess|pros and cons|trade-?offs?"
            r"|critique|root cause|explain why)\b",
            _FLAGS,
        ),
    ),
)


def count_tokens(text: str) -> int:
    """~4 characters a token, at least 1 if non-empty: the same estimate as
    ``sollol.sim.physics.count_tokens`` (duplicated: the router imports nothing heavy)."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def classify_text(text: str, default: str) -> str:
    """The task type that ``text`` asks for, or ``default`` when no rule matches."""
    for task, pattern in _RULES:
        if pattern.search(text):
            return task
    return default


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return "\n".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return _text(value.get("text") or value.get("content") or "")
    return ""


def _messages(body: Mapping[str, Any]) -> list[tuple[str, str]]:
    raw = body.get("messages")
    if not isinstance(raw, Sequence) or isinstance(raw, str | bytes):
        return []
    return [
        (str(m.get("role") or ""), _text(m.get("content"))) for m in raw if isinstance(m, Mapping)
    ]


def _num_predict(body: Mapping[str, Any]) -> int | None:
    options = body.get("options")
    n = options.get("num_predict") if isinstance(options, Mapping) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _num_ctx(body: Mapping[str, Any]) -> int | None:
    options = body.get("options")
    n = options.get("num_ctx") if isinstance(options, Mapping) else None
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else None


def _session_key(model: str, messages: list[tuple[str, str]]) -> str | None:
    """Stable id of a conversation's prefix: model + system prompt(s) + first user message."""
    system = "\x1e".join(c for r, c in messages if r == "system")
    first = next((c for r, c in messages if r == "user"), None)
    if first is None:
        return None
    raw = "\x1f".join((model, system, first)).encode()
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


def _complexity(task: str, tokens: int, depth: int, out: int | None) -> str:
    if task == "embedding":
        return "low" if tokens < 2048 else "medium"
    if (
        tokens > 2000
        or (out or 0) > 1024
        or depth >= 10
        or (task in ("analysis", "code") and tokens > 500)
    ):
        return "high"
    if (
        tokens < 64
        and depth < 3
        and (out or 0) <= 256
        and task in ("chat", "generation", "classification", "extraction")
    ):
        return "low"
    return "medium"


def _embed_inputs(endpoint: str, body: Mapping[str, Any]) -> list[str]:
    value = body.get("prompt") if endpoint == "embeddings" else body.get("input")
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return [_text(v) for v in value]
    return []


def analyse_request(endpoint: str, body: Mapping[str, Any], priority: int = 5) -> RequestProfile:
    """Profile a native Ollama request. ``endpoint`` ∈ chat | generate | embed | embeddings | show;
    ``priority`` 1..10 (clamped). Raises ValueError for another endpoint."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {', '.join(ENDPOINTS)}")
    model = normalize_model(str(body.get("model") or body.get("name") or ""))
    prio = max(1, min(PRIORITY_LEVELS, int(priority)))
    if endpoint == "show":  # metadata: no prompt, no output, nothing a scorer should learn from
        return RequestProfile(
            model=model,
            endpoint="show",
            task_type="show",
            complexity="low",
            output_tokens=0,
            priority=prio,
        )
    if endpoint in EMBED_ENDPOINTS:
        inputs = _embed_inputs(endpoint, body)
        tokens = sum(count_tokens(t) for t in inputs)
        return RequestProfile(
            model=model,
            endpoint=endpoint,
            task_type="embedding",
            complexity=_complexity("embedding", tokens, 0, None),
            prompt_tokens=tokens,
            priority=prio,
            input_count=max(1, len(inputs)),
        )
    return _generative(endpoint, body, model, prio)


def _generative(endpoint: str, body: Mapping[str, Any], model: str, prio: int) -> RequestProfile:
    out = _num_predict(body)
    if endpoint == "chat":
        messages = _messages(body)
        users = [c for r, c in messages if r == "user"]
        system = "\n".join(c for r, c in messages if r == "system")
        # the same text physics.chat_prompt_text builds: "role: content", one message a line
        text = "\n".join(f"{r}: {c}" for r, c in messages)
        tokens = count_tokens(text)
        depth, key, default = max(0, len(users) - 1), _session_key(model, messages), "chat"
        last = users[-1] if users else ""
    else:
        last, system = _text(body.get("prompt")), _text(body.get("system"))
        tokens = count_tokens(system) + count_tokens(last)
        text = f"{system}\n{last}" if system else last
        depth, key, default = 0, None, "generation"
    task = classify_text(last, "")
    task = task or (classify_text(system, default) if system else default)
    complexity = _complexity(task, tokens, depth, out)
    return RequestProfile(
        model=model,
        endpoint=endpoint,
        task_type=task,
        complexity=complexity,
        prompt_tokens=tokens,
        output_tokens=out,
        priority=prio,
        conversation_depth=depth,
        session_key=key,
        needs_gpu=complexity == "high",
        needs=required_capabilities(endpoint, body),
        prefix_blocks=prompt_blocks(text),
        num_ctx=_num_ctx(body),
    )
