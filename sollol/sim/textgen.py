"""What a simulated model "says": a reproducible number of pseudo-word tokens per request.

The length is exact when ``num_predict`` is set (benchmarks rely on it, done_reason "length"),
otherwise drawn by :func:`sollol.sim.physics.sample_output_tokens` from an RNG seeded by
(node seed, model, prompt, options.seed), so reruns of a benchmark produce the same streams.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from sollol.sim import physics

__all__ = ["TokenPlan", "context_ids", "plan_tokens"]

_WORDS = (
    "the", "a", "model", "fleet", "token", "answer", "system", "of", "to", "and", "in", "is",
    "that", "for", "it", "as", "with", "on", "be", "by", "this", "are", "from", "at", "or", "an",
    "will", "can", "each", "which", "their", "time", "when", "more", "about", "other", "some",
    "these", "into", "over", "such", "only", "new", "two", "also", "first", "way", "then", "may",
    "well", "like", "even", "most", "after", "any", "same", "because", "light", "river", "stone",
    "cloud", "signal", "layer", "vector", "garden", "window", "engine", "bridge", "pattern",
    "orbit", "field", "quiet", "rapid", "simple", "careful", "gentle", "ancient", "modern",
    "bright", "narrow", "steady", "hidden", "open",
)
_SENTENCE_END = 0.08  # chance that a token ends the sentence instead of adding a word


@dataclass(frozen=True)
class TokenPlan:
    """The generated tokens (each one streamed chunk) and why generation stopped."""

    tokens: tuple[str, ...]
    done_reason: str  # "length" when num_predict stopped it, else "stop"

    @property
    def text(self) -> str:
        return "".join(self.tokens)


def plan_tokens(node_seed: int, model: str, prompt: str, options_seed: int | None,
                num_predict: int | None) -> TokenPlan:
    """The tokens a request generates: exactly ``num_predict`` if > 0, else a seeded sample."""
    rng = random.Random(physics.seed_for(node_seed, model, prompt, options_seed))
    if num_predict is not None and num_predict > 0:
        count, reason = num_predict, "length"
    else:
        count, reason = physics.sample_output_tokens(rng), "stop"
    return TokenPlan(tuple(_words(rng, count)), reason)


def _words(rng: random.Random, count: int) -> list[str]:
    """``count`` word tokens with leading spaces and the odd full stop, capitalized sentences."""
    out: list[str] = []
    sentence_start = True
    for _ in range(count):
        if out and not sentence_start and rng.random() < _SENTENCE_END:
            out.append(".")
            sentence_start = True
            continue
        word = rng.choice(_WORDS)
        word = word.capitalize() if sentence_start else word
        out.append(word if not out else " " + word)
        sentence_start = False
    return out


def context_ids(prompt_tokens: int, plan: TokenPlan, seed: int) -> list[int]:
    """The deprecated ``context`` of /api/generate: a token id per prompt and output token."""
    rng = random.Random(seed)
    return [rng.randrange(1, 128000) for _ in range(prompt_tokens + len(plan.tokens))]
