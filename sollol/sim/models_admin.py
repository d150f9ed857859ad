"""Model management on a simulated node: /api/pull, /api/push, /api/create, /api/copy and
/api/delete, as Ollama answers them.

Pull fetches a model from the node's *catalogue* (the profile's ``catalog`` plus its installed
models) at the node's ``pull_mbps`` (megabits per second, scaled by the profile's time_scale);
the progress stream is Ollama's: ``pulling manifest``, one ``pulling <hex12>`` series per layer
with ``digest``/``total``/``completed`` (bytes), ``verifying sha256 digest``, ``writing
manifest``, ``removing unused layers``, ``success``. A name outside the catalogue fails as
Ollama does: streamed, ``pulling manifest`` then ``{"error": "pull model manifest: file does
not exist"}`` (HTTP 200); with ``stream: false``, 500 with that error. Copy and delete answer 200
with an empty body; create makes a new name from an installed ``from`` model.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from sollol.names import normalize_model
from sollol.sim.catalog import digest
from sollol.sim.context import node_of
from sollol.sim.node import SimNode
from sollol.sim.parsing import field, read_body, stream_flag
from sollol.sim.profile import ModelSpec
from sollol.sim.protocol import RequestError, json_response, ndjson_line, with_default_tag
from sollol.sim.residency import MIB
from sollol.sim.streaming import NDJSON, LazyStream

__all__ = ["MANIFEST_MISSING", "copy", "create", "delete", "pull", "push"]

MANIFEST_MISSING = "pull model manifest: file does not exist"
UPDATES_PER_LAYER = 20  # progress lines per downloaded layer
Progress = AsyncIterator[dict[str, Any]]


def layers(spec: ModelSpec) -> list[tuple[str, int]]:
    """(digest, bytes) of the model's blobs: the weights, then template and params."""
    weights = int(spec.size_mb * MIB)
    out = [(f"sha256:{digest(spec)}", weights)]
    for part, size in (("template", 1_400), ("params", 96)):
        out.append((f"sha256:{hashlib.sha256((spec.name + part).encode()).hexdigest()}", size))
    return out


async def pull(request: web.Request) -> web.StreamResponse:
    """POST /api/pull ``{"model", "stream"?, "insecure"?}``."""
    node = node_of(request)
    body = await read_body(request, "PullRequest")
    name = _name(body, "PullRequest")
    return await _respond(request, body, "PullRequest", _pull_progress(node, name))


async def push(request: web.Request) -> web.StreamResponse:
    """POST /api/push: uploads an installed model's layers at the node's bandwidth."""
    node = node_of(request)
    body = await read_body(request, "PushRequest")
    name = _name(body, "PushRequest")
    return await _respond(request, body, "PushRequest", _push_progress(node, name))


async def create(request: web.Request) -> web.StreamResponse:
    """POST /api/create ``{"model", "from", ...}``: a new name over an installed model."""
    node = node_of(request)
    body = await read_body(request, "CreateRequest")
    name = _name(body, "CreateRequest")
    source = field(body, "from", str, "CreateRequest", "")
    if not source and not body.get("files"):
        raise RequestError(400, "neither 'from' or 'files' was specified")
    base = node.find_model(source) if source else None
    if base is None:
        raise RequestError(404, f"model '{with_default_tag(source or name)}' not found")
    return await _respond(request, body, "CreateRequest", _create_progress(node, name, base))


async def copy(request: web.Request) -> web.Response:
    """POST /api/copy ``{"source", "destination"}``: 200 with an empty body."""
    node = node_of(request)
    body = await read_body(request, "CopyRequest")
    source = field(body, "source", str, "CopyRequest", "")
    destination = field(body, "destination", str, "CopyRequest", "")
    if not source or not destination:
        raise RequestError(400, "source and destination are required")
    spec = node.find_model(source)
    if spec is None:
        raise RequestError(404, f'model "{source}" not found')
    node.install(dataclasses.replace(spec, name=normalize_model(destination)))
    return web.Response(status=200)


async def delete(request: web.Request) -> web.Response:
    """DELETE /api/delete ``{"model"}``: 200 with an empty body; 404 when not installed."""
    node = node_of(request)
    body = await read_body(request, "DeleteRequest")
    name = field(body, "model", str, "DeleteRequest", "") or field(
        body, "name", str, "DeleteRequest", ""
    )
    spec = node.find_model(name) if name else None
    if spec is None:
        raise RequestError(404, f"model '{name}' not found")
    node.uninstall(spec.name)
    return web.Response(status=200)


# --- progress ---------------------------------------------------------------------------------


def _name(body: dict[str, Any], go_struct: str) -> str:
    name = field(body, "model", str, go_struct, "") or field(body, "name", str, go_struct, "")
    if not name.strip():
        raise RequestError(400, "model is required")
    return str(name)


async def _respond(
    request: web.Request, body: dict[str, Any], go_struct: str, progress: Progress
) -> web.StreamResponse:
    """Stream the progress lines, or (``stream: false``) answer the last one; 500 on failure."""
    if stream_flag(body, go_struct, True):
        out = LazyStream(request, NDJSON)
        async for line in progress:
            await out.write(ndjson_line(line))
        return await out.finish()
    last: dict[str, Any] = {"status": "success"}
    async for line in progress:
        last = line
        if "error" in line:
            return json_response(line, 500)
    return json_response(last)


async def _pull_progress(node: SimNode, name: str) -> Progress:
    yield {"status": "pulling manifest"}
    spec = node.spec.catalog.get(normalize_model(name)) or node.find_model(name)
    if spec is None:
        yield {"error": MANIFEST_MISSING}
        return
    have = node.find_model(name) is not None
    for layer, size in layers(spec):
        async for line in _transfer(node, f"pulling {layer[7:19]}", layer, size, skip=have):
            yield line
    for status in ("verifying sha256 digest", "writing manifest", "removing unused layers"):
        yield {"status": status}
    node.install(spec)
    yield {"status": "success"}


async def _push_progress(node: SimNode, name: str) -> Progress:
    yield {"status": "retrieving manifest"}
    spec = node.find_model(name)
    if spec is None:
        yield {"error": f"model '{with_default_tag(name)}' not found"}
        return
    for layer, size in layers(spec):
        yield {"status": "starting upload", "digest": layer, "total": size}
        async for line in _transfer(node, f"pushing {layer[7:19]}", layer, size, skip=False):
            yield line
    yield {"status": "pushing manifest"}
    yield {"status": "success"}


async def _create_progress(node: SimNode, name: str, base: ModelSpec) -> Progress:
    yield {"status": "reading model metadata"}
    for layer, _ in layers(base):
        yield {"status": f"using existing layer {layer}"}
    yield {"status": "writing manifest"}
    node.install(dataclasses.replace(base, name=normalize_model(name)))
    yield {"status": "success"}


async def _transfer(node: SimNode, status: str, layer: str, size: int, skip: bool) -> Progress:
    """Progress of moving ``size`` bytes at the node's bandwidth (at once when ``skip``)."""
    line = {"status": status, "digest": layer, "total": size}
    if skip:
        yield {**line, "completed": size}
        return
    seconds = size * 8 / (node.spec.pull_mbps * 1e6)
    steps = UPDATES_PER_LAYER if size > MIB else 1
    for i in range(1, steps + 1):
        await node.sleep(seconds / steps)
        yield {**line, "completed": size * i // steps}
