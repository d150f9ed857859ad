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

__all__ = ["decode_stats", "record_sample"]

OUTTOK_SEP = "|"


def decode_stats(raw: dict[Any, Any]) -> dict[str, ModelStats]:
    out = {}
    fields = set(ModelStats.__dataclass_fields__)
    for k, v in raw.items():
        model = k.decode() if isinstance(k, bytes) else k
        try:
            data = {f: x for f, x in json.loads(v).items() if f in fields}
            out[model] = ModelStats(**data)
        except (ValueError, TypeError):
            continue
    return out


def record_sample(
    redis: Any,
    cfg: SOLLOLConfig,
    host: str,
    model: str,
    sample: TimingSample,
    task_type: str | None = None,
) -> ModelStats:
    """Fold one request's timings into the host's stats for ``model``; returns the new stats."""
    key = cfg.key("stats", host)
    pipe = redis.pipeline(transaction=False)
    pipe.hget(key, model)
    tok_field = f"{model}{OUTTOK_SEP}{task_type}"
    pipe.hget(cfg.key("outtok"), tok_field)
    raw, raw_tok = pipe.execute()
    prev = decode_stats({model: raw}).get(model) if raw else None
    new = update_stats(prev, sample, cfg.ewma_alpha)
    pipe = redis.pipeline(transaction=False)
    pipe.hset(key, model, json.dumps(asdict(new)))
    pipe.expire(key, 7 * 86_400)
    if task_type and sample.ok and sample.gen_tokens > 0:
        prev_tok = float(raw_tok) if raw_tok else None
        pipe.hset(
            cfg.key("outtok"),
            tok_field,
            update_output_tokens(prev_tok, sample.gen_tokens, cfg.ewma_alpha),
        )
    pipe.execute()
    return new
