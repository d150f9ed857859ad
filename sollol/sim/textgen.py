"""What a simulated model "says": a reproducible number of pseudo-word tokens per request.

The length is exact when ``num_predict`` is set (benchmarks rely on it, done_reason "length"),
otherwise drawn by :func:`sollol.sim.physics.sample_output_tokens` from an RNG seeded by
(node seed, model, prompt, options.seed), so reruns of a benchmark produce the same streams.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from sollol.sim import physics

__all__ = ["TokenPlan", "context_ids", "plan_tokens", "prefix_tokens"]

_WORDS = (
    "the",
    "a",
    "model",
    "fleet",
    "token",
    "answer",
    "system",
    "of",
    "to",
    "and",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "with",
    "on",
    "be",
    "by",
    "this",
    "are",
    "from",
    "at",
    "or",
    "an",
    "will",
    "can",
    "each",
    "which",
    "their",
    "time",
    "when",
    "more",
    "about",
    "other",
    "some",
    "these",
    "into",
    "over",
    "such",
    "only",
    "new",
    "two",
    "also",
    "first",
    "way",
    "then",
    "may",
    "well",
    "like",
    "even",
    "most",
    "after",
    "any",
    "same",
    "because",
    "light",
    "river",
    "stone",
    "cloud",
    "signal",
    "layer",
    "vector",
    "garden",
    "window",
    "engine",
    "bridge",
    "pattern",
    "orbit",
    "field",
    "quiet",
    "rapid",
    "simple",
    "careful",
    "gentle",
    "ancient",
    "modern",
    "bright",
    "narrow",
    "steady",
    "hidden",
    "open",
)
_SENTENCE_END = 0.08  # chance that a token ends the sentence instead of adding a word
_TEXT_SALT = 0x5EED  # the text RNG differs from the one that drew the length


@dataclass(frozen=True)
class TokenPlan:
    """How many tokens a request generates (each one streamed chunk), why it stops, and the seed
    of their text. Tokens are produced lazily, so a huge ``num_predict`` costs nothing upfront."""

    count: int
    done_reason: str  # "length" when num_predict stopped it, else "stop"
    seed: int
    skip: int = 0  # tokens of the seed's sequence already said (a continued answer)

    def words(self) -> Iterator[str]:
        """The tokens in order: the same sequence every time for the same plan."""
        words = _words(random.Random(self.seed ^ _TEXT_SALT), self.skip + self.count)
        return itertools.islice(words, self.skip, None)

    @property
    def text(self) -> str:
        return "".join(self.words())


def plan_tokens(
    node_seed: int, model: str, prompt: str, options_seed: int | None, num_predict: int | None
) -> TokenPlan:
    """The plan of a request: exactly ``num_predict`` tokens if > 0, else a seeded sample."""
    seed = physics.seed_for(node_seed, model, prompt, options_seed)
    if num_predict is not None and num_predict > 0:
        return TokenPlan(num_predict, "length", seed)
    return TokenPlan(physics.sample_output_tokens(random.Random(seed)), "stop", seed)


def prefix_tokens(seed: int, text: str) -> int | None:
    """How many tokens of the sequence of ``seed`` spell exactly ``text``; None if they don't."""
    said = ""
    for n, word in enumerate(_words(random.Random(seed ^ _TEXT_SALT), len(text)), start=1):
        said += word
        if len(said) >= len(text):
            return n if said == text else None
    return None


def _words(rng: random.Random, count: int) -> Iterator[str]:
    """``count`` word tokens with leading spaces and the odd full stop, capitalized sentences."""
    sentence_start = True
    for i in range(count):
        if i and not sentence_start and rng.random() < _SENTENCE_END:
            sentence_start = True
            yield "."
            continue
        word = rng.choice(_WORDS)
        word = word.capitalize() if sentence_start else word
        sentence_start = False
        yield word if i == 0 else " " + word


def context_ids(prompt_tokens: int, seed: int, count: int) -> list[int]:
    """The deprecated ``context`` of /api/generate: a token id per prompt and output token (of
    an answer with this seed and ``count`` tokens; cheap arithmetic, since it can be long)."""
    base = seed % 100_003
    return [(base + i * 7919) % 127_999 + 1 for i in range(prompt_tokens + count)]
