"""Ollama's embedding endpoints: /api/embed (L2-normalized float32, batched) and the legacy
/api/embeddings (float64, not normalized). Vectors depend only on (model, text), so every node
returns the same vector for the same input (docs/ollama-api.md §3.4, §3.5)."""

from __future__ import annotations

import math
from array import array
from typing import Any

from aiohttp import web

from sollol.sim import physics
from sollol.sim.context import node_of, started_of
from sollol.sim.engine import EmbedOutcome, embed_texts
from sollol.sim.faults import MID_STREAM_ERROR, FaultMode
from sollol.sim.node import SimNode
from sollol.sim.parsing import field, parse_options, read_body
from sollol.sim.profile import ModelSpec
from sollol.sim.protocol import RequestError, json_response, metrics, parse_keep_alive
from sollol.sim.streaming import drop_connection

__all__ = ["as_float32", "embed", "embed_inputs", "embeddings", "resize", "run_embedding"]


async def embed(request: web.Request) -> web.Response:
    """POST /api/embed."""
    node, go = node_of(request), "EmbedRequest"
    body = await read_body(request, go)
    model = field(body, "model", str, go, "")
    truncate = bool(field(body, "truncate", bool, go, True))
    dimensions = int(field(body, "dimensions", int, go, 0))
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    texts = embed_inputs(body.get("input"), "invalid input type")
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(
            404,
            f'model "{model}" not found, try pulling it first'
            if model.strip()
            else "model '' not found",
        )
    outcome = await run_embedding(
        request,
        node,
        spec,
        texts,
        options=parse_options(body, go),
        keep_alive_s=keep_alive,
        truncate=truncate,
    )
    if outcome is None:
        return json_response({"model": model, "embeddings": []})
    vectors = [as_float32(resize(v, dimensions)) for v in outcome.vectors]
    return json_response(
        {
            "model": model,
            "embeddings": vectors,
            **metrics(
                total_duration=outcome.total_ns,
                load_duration=outcome.load_ns,
                prompt_eval_count=outcome.prompt_tokens,
            ),
        }
    )


async def embeddings(request: web.Request) -> web.Response:
    """POST /api/embeddings (legacy): ``{"embedding": [...]}``, float64, not normalized."""
    node, go = node_of(request), "EmbeddingRequest"
    body = await read_body(request, go)
    model = field(body, "model", str, go, "")
    prompt = field(body, "prompt", str, go, "")
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    if not model.strip():
        raise RequestError(400, "model is required")
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f'model "{model}" not found, try pulling it first')
    texts = [prompt] if prompt else []
    outcome = await run_embedding(
        request, node, spec, texts, options=parse_options(body, go), keep_alive_s=keep_alive
    )
    if outcome is None:
        return json_response({"embedding": []})
    # A stable per-(model, text) length stands in for the raw, unnormalized hidden state.
    scale = 1.0 + physics.seed_for(spec.name, prompt) % 10_000 / 1000.0
    return json_response({"embedding": [x * scale for x in outcome.vectors[0]]})


async def run_embedding(
    request: web.Request,
    node: SimNode,
    spec: ModelSpec,
    texts: list[str],
    *,
    options: dict[str, Any],
    keep_alive_s: float,
    truncate: bool = True,
) -> EmbedOutcome | None:
    """Faults, then the work; None for the load-only case of no input (keep_alive 0 unloads)."""
    fault = await node.faults.before_work()
    if not texts:
        if keep_alive_s == 0:
            node.scheduler.unload(spec.name)
        else:
            scheduler = node.scheduler
            runner = await scheduler.acquire(spec, node.load_config(spec, options), keep_alive_s)
            scheduler.release(runner)
        outcome = None
    else:
        outcome = await embed_texts(
            node,
            spec,
            texts,
            options=options,
            keep_alive_s=keep_alive_s,
            started=started_of(request),
            truncate=truncate,
        )
    if fault is FaultMode.CRASH_MID_STREAM:
        await drop_connection(request)  # the work was done; the answer never leaves the box
    if fault is FaultMode.ERROR_MID_STREAM:
        raise RequestError(500, MID_STREAM_ERROR)
    return outcome


def embed_inputs(value: Any, message: str) -> list[str]:
    """``input``: a string or list of strings (``""``, ``[]``, absent: none); else 400."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RequestError(400, message)


def resize(vector: list[float], dimensions: int) -> list[float]:
    """``dimensions``: keep the first ``dimensions`` values and L2-normalize again."""
    if not 0 < dimensions < len(vector):
        return vector
    cut = vector[:dimensions]
    norm = math.sqrt(sum(v * v for v in cut)) or 1.0
    return [v / norm for v in cut]


def as_float32(vector: list[float]) -> list[float]:
    """Round to float32 and print as Go does float32: at most 9 significant digits."""
    return [float(f"{v:.9g}") for v in array("f", vector)]
