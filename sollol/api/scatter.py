"""Scatter–gather for big synchronous embedding calls (/api/embed, /v1/embeddings).

An ``input`` list longer than ``scatter_threshold`` is cut into one part per host that can serve
the model (at most one part per ``scatter_threshold`` inputs), sized to each host's learned
embedding rate (the batch planner's lanes, so hosts the router refuses get nothing). Every part
is an ordinary routed call (its own lifecycle: failover, accounting); the parts are published
together and joined in order, and the client gets one normal answer: the vectors in input order,
``prompt_eval_count`` summed, durations of the slowest part, and ``_sollol_routing`` of the first
part with a ``scatter`` list of (host, inputs) per part.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from sollol.api.call import Call
from sollol.api.lifecycle import CallLifecycle, open_call
from sollol.api.responses import routing_meta
from sollol.api.services import services
from sollol.state.batch import BatchStore
from sollol.workers.batch_plan import lanes_for, part_sizes

__all__ = ["gather"]


def gather(body: dict[str, Any], prio: int) -> tuple[dict[str, Any], Call] | None:
    """The merged final object and the first part's call, or None when ``body`` is not split."""
    svc = services()
    texts = body.get("input")
    if not isinstance(texts, list) or len(texts) <= svc.cfg.scatter_threshold:
        return None
    model = str(body.get("model") or "")
    lanes = lanes_for(
        svc.fleet.snapshot(), model, BatchStore(svc.redis, svc.cfg).rates(model), prio
    )
    sizes = part_sizes(len(texts), lanes, svc.cfg.scatter_threshold)
    if len(sizes) == 1:
        return None
    with contextlib.ExitStack() as stack:
        parts: list[CallLifecycle] = []
        at = 0
        for size in sizes:
            lc = open_call("embed", {**body, "input": texts[at : at + size]}, prio, False)
            stack.callback(lc.close)
            parts.append(lc)
            at += size
        finals = [json.loads(lc.join()) for lc in parts]
    return _merge(finals, parts, sizes), parts[0].call


def _merge(
    finals: list[dict[str, Any]], parts: list[CallLifecycle], sizes: list[int]
) -> dict[str, Any]:
    out = dict(finals[0])
    out["embeddings"] = [v for f in finals for v in f.get("embeddings", [])]
    for key in ("total_duration", "load_duration"):
        if any(key in f for f in finals):
            out[key] = max(int(f.get(key, 0)) for f in finals)
    if any("prompt_eval_count" in f for f in finals):
        out["prompt_eval_count"] = sum(int(f.get("prompt_eval_count", 0)) for f in finals)
    routing = routing_meta(parts[0].call)
    routing["scatter"] = [
        {"host": lc.call.host, "inputs": n} for lc, n in zip(parts, sizes, strict=True)
    ]
    out["_sollol_routing"] = routing
    return out
