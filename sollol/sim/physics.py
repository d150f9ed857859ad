"""The simulator's performance model as pure functions, shared by the live simulator and
bench/policy.py.

Keeping the formulas here (and only here) is what lets the discrete-event policy benchmark claim
that it models the same fleet that ``sollol sim`` serves over HTTP.

Concurrency model: a loaded model runs up to ``num_parallel`` requests at once (continuous
batching). Aggregate generation throughput grows sublinearly with the number of active slots
``k``: ``aggregate(k) = single_tps · k^CONCURRENCY_EXPONENT``, so each active request decodes at
``single_tps · k^(CONCURRENCY_EXPONENT - 1)`` tokens/s. With the exponent 0.7, four busy slots give
2.6× the throughput of one, each request running at 66 % of its solo speed — roughly what llama.cpp
shows on a single consumer GPU.
"""

from __future__ import annotations

import hashlib
import math
import random
import struct
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "CONCURRENCY_EXPONENT",
    "chat_prompt_text",
    "count_tokens",
    "embedding_vector",
    "per_slot_tps",
    "prompt_eval_seconds",
    "sample_output_tokens",
    "seed_for",
]

CONCURRENCY_EXPONENT = 0.7
CPU_PENALTY = 1.0  # CPU nodes are described by their own (slow) rates in the profile
MEDIAN_OUTPUT_TOKENS = 120
MAX_DEFAULT_OUTPUT_TOKENS = 2048


def per_slot_tps(single_tps: float, active: int) -> float:
    """Tokens/s each of ``active`` concurrent requests gets (≥ 1 active); single_tps when alone."""
    k = max(1, active)
    return float(single_tps * k ** (CONCURRENCY_EXPONENT - 1.0))


def count_tokens(text: str) -> int:
    """Deterministic token estimate of ``text``: ~4 characters a token, at least 1 if non-empty."""
    if not text:
        return 0
    return max(1, math.ceil(len(text) / 4))


def chat_prompt_text(messages: Sequence[Mapping[str, Any]]) -> str:
    """The text a chat request's prompt evaluation covers: ``role: content``, one message a line."""
    return "\n".join(f"{m.get('role') or ''}: {m.get('content') or ''}" for m in messages)


def prompt_eval_seconds(tokens: int, prompt_tps: float, active: int = 1) -> float:
    """Seconds to evaluate ``tokens`` prompt tokens while ``active`` requests share the model."""
    if tokens <= 0:
        return 0.0
    return tokens / per_slot_tps(prompt_tps, active)


def seed_for(*parts: object) -> int:
    """A stable 64-bit seed from any values (same inputs → same seed on every node and run)."""
    digest = hashlib.blake2b("\x1f".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def sample_output_tokens(
    rng: random.Random,
    median: float = MEDIAN_OUTPUT_TOKENS,
    sigma: float = 1.0,
    cap: int = MAX_DEFAULT_OUTPUT_TOKENS,
) -> int:
    """Heavy-tailed (log-normal) output length in [1, cap]; median ``median`` tokens."""
    return max(1, min(cap, round(rng.lognormvariate(math.log(median), sigma))))


def embedding_vector(model: str, text: str, dim: int) -> list[float]:
    """L2-normalized vector of ``dim`` floats that depends only on (model, text)."""
    out: list[float] = []
    counter = 0
    key = f"{model}\x1f{text}".encode()
    while len(out) < dim:
        block = hashlib.blake2b(key + counter.to_bytes(4, "big"), digest_size=64).digest()
        out.extend((v / 2**31) - 1.0 for v in struct.unpack(">16I", block))
        counter += 1
    vec = out[:dim]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]
