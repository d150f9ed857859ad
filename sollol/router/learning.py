"""Learning from finished requests: pure EWMA updates of per-(host, model) rates and of the
typical output length per (model, task type). Workers call these and store the results in Redis.

EWMA with a warm start: the effective smoothing factor is ``max(alpha, 1 / n)`` for the n-th
sample, so the first sample is taken as is and the first few are averaged evenly (a plain
EWMA started at an arbitrary prior would take ~1/alpha samples to forget it).
"""

from __future__ import annotations

from dataclasses import dataclass

from sollol.router.model import ModelStats
from sollol.router.tuning import CONCURRENCY_EXPONENT

__all__ = ["TimingSample", "update_output_tokens", "update_stats"]

MIN_GEN_TOKENS = 2  # one token's eval_duration is mostly noise


@dataclass(frozen=True, slots=True)
class TimingSample:
    """One finished (or failed) request as Ollama timed it; seconds and token counts."""

    ok: bool
    load_s: float = 0.0  # Ollama's load_duration (includes its scheduler queueing)
    prompt_tokens: int = 0  # prompt_eval_count
    prompt_s: float = 0.0  # prompt_eval_duration
    gen_tokens: int = 0  # eval_count
    gen_s: float = 0.0  # eval_duration
    cold: bool = False  # the model was not resident when the request started
    # requests of this model running on the host when this one ran (itself included); 0 = unknown.
    # When known, rates are stored as solo rates: observed × active^(1 - CONCURRENCY_EXPONENT).
    active: int = 0


def _ewma(prev: float | None, value: float, alpha: float) -> float:
    return value if prev is None else prev + alpha * (value - prev)


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")


def update_stats(prev: ModelStats | None, sample: TimingSample, alpha: float) -> ModelStats:
    """Fold ``sample`` into ``prev``: EWMA of prompt tokens/s, generation tokens/s, load seconds
    (cold samples only) and success rate (1 answered / 0 failed). Failed samples only move the
    success rate."""
    _check_alpha(alpha)
    prev = prev or ModelStats()
    n = prev.samples + 1
    a = max(alpha, 1.0 / n)
    prompt_tps, gen_tps, load_s = prev.prompt_tps, prev.gen_tps, prev.load_s
    solo = max(1, sample.active) ** (1.0 - CONCURRENCY_EXPONENT)
    if sample.ok:
        if sample.prompt_tokens > 0 and sample.prompt_s > 0:
            prompt_tps = _ewma(prompt_tps, solo * sample.prompt_tokens / sample.prompt_s, a)
        if sample.gen_tokens >= MIN_GEN_TOKENS and sample.gen_s > 0:
            gen_tps = _ewma(gen_tps, solo * sample.gen_tokens / sample.gen_s, a)
        if sample.cold and sample.load_s > 0:
            load_s = _ewma(load_s, sample.load_s, alpha)
    # the success prior (1.0) is meaningful, so no warm start: one early failure must not zero it
    success = prev.success_rate + alpha * ((1.0 if sample.ok else 0.0) - prev.success_rate)
    return ModelStats(
        prompt_tps=prompt_tps,
        gen_tps=gen_tps,
        load_s=load_s,
        success_rate=min(1.0, max(0.0, success)),
        samples=n,
    )


def update_output_tokens(prev: float | None, observed: int, alpha: float) -> float:
    """EWMA of generated tokens for one (model, task type); the first observation is taken as is."""
    _check_alpha(alpha)
    return float(observed) if prev is None else prev + alpha * (observed - prev)
