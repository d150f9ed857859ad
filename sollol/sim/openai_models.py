"""Ollama's OpenAI-compatible embedding and model endpoints: /v1/embeddings, /v1/models and
/v1/models/{model}, in OpenAI's shapes (errors in OpenAI's envelope, set by the server)."""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sollol.sim.catalog import openai_model, tags_body
from sollol.sim.context import node_of
from sollol.sim.embedding import as_float32, embed_inputs, resize, run_embedding
from sollol.sim.parsing import field, read_body
from sollol.sim.protocol import RequestError, json_response

__all__ = ["embeddings", "model", "models"]


async def embeddings(request: web.Request) -> web.Response:
    """POST /v1/embeddings: float lists or base64 little-endian float32."""
    node = node_of(request)
    body = await read_body(request, "EmbedRequest")
    model = field(body, "model", str, "EmbedRequest", "")
    raw_input = body.get("input")
    if raw_input == [] or raw_input is None:
        raise RequestError(400, "invalid input")
    texts = embed_inputs(raw_input, "invalid input")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise RequestError(400, f'invalid encoding_format: "{encoding}"')
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f'model "{model}" not found, try pulling it first')
    dims = int(field(body, "dimensions", int, "EmbedRequest", 0))
    outcome = await run_embedding(
        request, node, spec, texts, options={}, keep_alive_s=node.spec.keep_alive_s
    )
    vectors = [] if outcome is None else [as_float32(resize(v, dims)) for v in outcome.vectors]
    encode: Callable[[list[float]], Any] = _base64 if encoding == "base64" else (lambda v: v)
    tokens = 0 if outcome is None else outcome.prompt_tokens
    return json_response(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "embedding": encode(v), "index": i}
                for i, v in enumerate(vectors)
            ],
            "model": model,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        },
        openai=True,
    )


def _base64(vector: list[float]) -> str:
    floats = array("f", vector)
    if sys.byteorder == "big":
        floats.byteswap()  # OpenAI's base64 is little-endian float32
    return base64.b64encode(floats.tobytes()).decode()


async def models(request: web.Request) -> web.Response:
    """GET /v1/models: ``data`` is null when nothing is installed."""
    node = node_of(request)
    names = [m["name"] for m in tags_body(node)["models"]]
    data = [openai_model(node, node.spec.models[n]) for n in names] or None
    return json_response({"object": "list", "data": data}, openai=True)


async def model(request: web.Request) -> web.Response:
    """GET /v1/models/{model}: the id is the path parameter as given."""
    node = node_of(request)
    name = request.match_info["model"]
    spec = node.find_model(name)
    if spec is None:
        raise RequestError(404, f"model '{name}' not found")
    return json_response(openai_model(node, spec, name), openai=True)
