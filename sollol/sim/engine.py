"""The timing of inference: prompt evaluation (only the part the slot's prompt cache does not
hold, :mod:`sollol.sim.prompt_cache`), paced token generation and embedding, all through
:mod:`sollol.sim.physics` so the discrete-event benchmark (bench/policy.py) models the same fleet.

Generation re-reads the runner's number of active slots before every batch of tokens, so a
request slows down when others join its model and speeds up when they leave
(``physics.per_slot_tps``: aggregate throughput grows as active^0.7). Reported durations are the
real wall-clock time measured here, as Ollama measures itself.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sollol.sim import physics
from sollol.sim.answer import Answer
from sollol.sim.node import Lease, SimNode
from sollol.sim.profile import ModelSpec
from sollol.sim.protocol import RequestError, metrics
from sollol.sim.residency import LoadConfig

__all__ = ["GENERATIVE_EMBED_DIM", "EmbedOutcome", "Generation", "embed_texts"]

# A generative model asked for embeddings returns its hidden state; 2048 stands in for its width.
GENERATIVE_EMBED_DIM = 2048
_MAX_LAG_S = 0.05  # a stalled loop catches up at most this much, instead of bursting tokens


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


class Generation:
    """One text generation on a node: ``async with`` obtains the lease and evaluates the prompt;
    :meth:`next_batch` then yields the planned tokens at the model's current per-slot speed."""

    def __init__(
        self,
        node: SimNode,
        spec: ModelSpec,
        *,
        config: LoadConfig,
        keep_alive_s: float,
        prompt_tokens: int,
        plan: Answer,
        started: float,
        prompt_text: str = "",
        answer_prefix: str = "",
    ) -> None:
        self.node, self.spec, self.plan = node, spec, plan
        self.prompt_tokens = prompt_tokens  # the evaluated part once the lease is held
        self.cached_tokens = 0  # prompt tokens the slot's cache already held
        # the cache key: the prompt's text ("" = do not use the cache), then what the next turn's
        # prompt shows between it and the answer ("\nassistant: " for a chat)
        self._cache_text, self._answer_prefix = prompt_text, answer_prefix
        self._cache_slot: int | None = None
        self._lease_args = (spec, config, keep_alive_s, started)
        self._stack = AsyncExitStack()
        self.lease: Lease | None = None
        self.produced = 0
        self._words = plan.words()
        self._prompt_ns = 0
        self._eval_start = self._eval_end = 0.0
        self._deadline = 0.0

    async def __aenter__(self) -> Generation:
        try:
            self.lease = await self._stack.enter_async_context(self.node.lease(*self._lease_args))
            t0 = time.monotonic()
            self._use_cache()
            active = self.lease.runner.slots.active
            await self.node.sleep(
                physics.prompt_eval_seconds(self.prompt_tokens, self.spec.prompt_tps, active)
            )
            self._eval_start = time.monotonic()
            self._prompt_ns = _ns(self._eval_start - t0)
            self._deadline = asyncio.get_running_loop().time()
            self.node.pacer.streams += 1
            self._stack.callback(self._stream_ended)
        except BaseException:
            await self._stack.aclose()
            raise
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.__aexit__(et, e, tb)

    def _stream_ended(self) -> None:
        self.node.pacer.streams -= 1

    def _use_cache(self) -> None:
        """Claim a slot cache: evaluate only what it does not hold (at least one token, as
        llama-server re-evaluates the last token of a fully cached prompt)."""
        if not self._cache_text or self.lease is None:
            return
        cache = self.lease.runner.prompt_cache
        self._cache_slot, cached = cache.claim(self._cache_text)
        self._stack.callback(self._store_cache)
        evaluate = max(1, self.prompt_tokens - cached) if cached else self.prompt_tokens
        self.cached_tokens = self.prompt_tokens - evaluate
        self.prompt_tokens = evaluate

    def _store_cache(self) -> None:
        """The slot now holds the prompt and the answer text generated so far."""
        if self.lease is None or self._cache_slot is None:
            return
        thinking = self.plan.thinking
        body = "".join(itertools.islice(self.plan.words(), thinking, max(thinking, self.produced)))
        text = self._cache_text + self._answer_prefix + body
        self.lease.runner.prompt_cache.store(self._cache_slot, text)

    async def next_batch(self) -> tuple[str, ...]:
        """The next tokens once their generation time has passed; ``()`` when all are out.

        One sleep covers several tokens when a token takes less than the pacer's tick.
        """
        remaining = self.plan.count - self.produced
        if remaining <= 0 or self.lease is None:
            return ()
        active = self.lease.runner.slots.active
        per_token = self.node.time_scale / physics.per_slot_tps(self.spec.gen_tps, active)
        # The first token goes out alone so batching never delays time-to-first-token.
        per_tick = 1 if self.produced == 0 else int(self.node.pacer.tick_s() / per_token)
        count = min(remaining, max(1, per_tick))
        loop = asyncio.get_running_loop()
        # Pace against a deadline so sleep overshoot does not slow streams down; cap the debt.
        self._deadline = max(self._deadline, loop.time() - _MAX_LAG_S) + count * per_token
        delay = self._deadline - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        batch = tuple(itertools.islice(self._words, count))
        self.produced += count
        self._eval_end = time.monotonic()
        return batch

    def final_metrics(self) -> dict[str, int]:
        """Ollama's six metrics in integer ns/counts (zeros omitted), measured on the wall clock."""
        assert self.lease is not None
        now = time.monotonic()
        return metrics(
            total_duration=_ns(now - self.lease.started),
            load_duration=self.lease.load_ns,
            prompt_eval_count=self.prompt_tokens,
            prompt_eval_duration=self._prompt_ns,
            eval_count=self.produced,
            eval_duration=_ns(max(0.0, self._eval_end - self._eval_start)),
        )


@dataclass(frozen=True)
class EmbedOutcome:
    vectors: list[list[float]]  # L2-normalized, one per input
    prompt_tokens: int
    load_ns: int
    total_ns: int


def embedding_dim(spec: ModelSpec) -> int:
    return spec.embed_dim or GENERATIVE_EMBED_DIM


async def embed_texts(
    node: SimNode,
    spec: ModelSpec,
    texts: list[str],
    *,
    options: dict[str, Any],
    keep_alive_s: float,
    started: float,
    truncate: bool = True,
) -> EmbedOutcome:
    """Embed ``texts`` on ``node``: lease, evaluate every input at the model's embedding rate,
    return deterministic vectors (same (model, text) → same vector on every node).

    Raises RequestError 400 when ``truncate`` is false and an input exceeds the context.
    """
    config = node.load_config(spec, options)
    counts = [physics.count_tokens(t) for t in texts]
    if not truncate and any(c > config.num_ctx for c in counts):
        raise RequestError(400, "the input length exceeds the context length")
    tokens = sum(min(c, config.num_ctx) for c in counts)
    rate = spec.embed_tps if spec.is_embedding else spec.prompt_tps
    async with node.lease(spec, config, keep_alive_s, started) as lease:
        await node.sleep(physics.prompt_eval_seconds(tokens, rate, lease.runner.slots.active))
        dim = embedding_dim(spec)
        vectors = [physics.embedding_vector(spec.name, t, dim) for t in texts]
    return EmbedOutcome(vectors, tokens, lease.load_ns, _ns(time.monotonic() - started))
