"""Batch embedding from Python, straight through Redis (no gateway needed): what
``SOLLOL(...).embed_batch(docs)`` runs."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.state.batch import ACTIVE, BatchStore, parse_doc

__all__ = ["BatchFailed", "embed_batch"]


class BatchFailed(RuntimeError):
    """The job ended without every vector (cancelled, expired or past the timeout)."""


def embed_batch(
    redis: Any,
    cfg: SOLLOLConfig,
    celery: Any,
    docs: Iterable[Any],
    model: str | None = None,
    priority: int | None = None,
    timeout_s: float = 3600.0,
    poll_s: float = 0.2,
) -> list[list[float] | None]:
    """Submit ``docs`` (strings or ``{"id", "text", "metadata"?}``) as a batch job, wait for it
    and return the vectors in input order (None for a doc that failed; see its job's errors)."""
    store = BatchStore(redis, cfg)
    status = store.create(
        (parse_doc(d, i) for i, d in enumerate(docs)),
        model=model or cfg.default_embed_model,
        priority=priority or cfg.batch_priority,
    )
    job, total = status["job_id"], int(status["total"])
    from sollol.workers.batch import send_tick

    send_tick(celery)
    deadline = time.monotonic() + timeout_s
    while (state := store.status(job)["state"]) in ACTIVE:
        if time.monotonic() > deadline:
            raise BatchFailed(f"batch job {job} not done after {timeout_s:g} s (state {state})")
        time.sleep(poll_s)
    if state == "cancelled":
        raise BatchFailed(f"batch job {job} was cancelled")
    lines = [json.loads(x) for x in store.results(job, 0, total)]
    return [x.get("embedding") for x in lines]
