"""Learned rates per (host, model) and typical output length per (model, task type), in Redis.

``stats:<host>`` HASH model → JSON of router ModelStats; ``outtok`` HASH "model|task" → tokens.
Workers update them after every request from Ollama's own timings (EWMA, see
sollol.router.learning); the gateway reads them into each FleetSnapshot. Concurrent updates of
the same entry may drop a sample (last writer wins); an EWMA shrugs that off.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.router import ModelStats, TimingSample, update_output_tokens, update_stats

__all__ = ["decode_stats", "record_sample", "record_samples"]

OUTTOK_SEP = "|"


def decode_stats(raw: dict[Any, Any]) -> dict[str, ModelStats]:
    out = {}
    fields = set(ModelStats.__dataclass_fields__)
    for model, v in raw.items():
        try:
            data = {f: x for f, x in json.loads(v).items() if f in fields}
            out[model] = ModelStats(**data)
        except (ValueError, TypeError):
            continue
    return out


Sample = tuple[str, str, TimingSample, "str | None"]  # host, model, timings, task type


def record_sample(
    redis: Any,
    cfg: SOLLOLConfig,
    host: str,
    model: str,
    sample: TimingSample,
    task_type: str | None = None,
) -> ModelStats:
    """Fold one request's timings into the host's stats for ``model``; returns the new stats."""
    return record_samples(redis, cfg, [(host, model, sample, task_type)])[(host, model)]


def record_samples(
    redis: Any, cfg: SOLLOLConfig, samples: list[Sample]
) -> dict[tuple[str, str], ModelStats]:
    """Fold a batch of samples in two round trips (read all entries, write all entries), applying
    each entry's samples in order, as if one at a time."""
    stat_keys = sorted({(h, m) for h, m, _, _ in samples})
    tok_keys = sorted({f"{m}{OUTTOK_SEP}{t}" for _, m, s, t in samples if t and s.ok})
    pipe = redis.pipeline(transaction=False)
    for h, m in stat_keys:
        pipe.hget(cfg.key("stats", h), m)
    for field in tok_keys:
        pipe.hget(cfg.key("outtok"), field)
    raw = pipe.execute()
    stats = {
        k: decode_stats({k[1]: r}).get(k[1]) if r else None
        for k, r in zip(stat_keys, raw, strict=False)
    }
    tokens = {
        f: float(r) if r else None for f, r in zip(tok_keys, raw[len(stat_keys) :], strict=True)
    }
    for h, m, sample, task in samples:
        stats[(h, m)] = update_stats(stats[(h, m)], sample, cfg.ewma_alpha)
        field = f"{m}{OUTTOK_SEP}{task}"
        if field in tokens and sample.gen_tokens > 0:
            tokens[field] = update_output_tokens(tokens[field], sample.gen_tokens, cfg.ewma_alpha)
    pipe = redis.pipeline(transaction=False)
    for (h, m), new in stats.items():
        if new is None:
            continue
        pipe.hset(cfg.key("stats", h), m, json.dumps(asdict(new)))
        pipe.expire(cfg.key("stats", h), 7 * 86_400)
    for field, value in tokens.items():
        if value is not None:
            pipe.hset(cfg.key("outtok"), field, value)
    pipe.execute()
    return {k: v for k, v in stats.items() if v is not None}
