"""Ollama's native API (/api/*), routed over the fleet; behaves as Ollama does (docs/ollama-api.md)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from sollol.api.errors import NotImplementedByGateway
from sollol.api.lifecycle import open_call
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import final_object, json_response, ndjson_response
from sollol.api.scatter import gather
from sollol.api.services import services
from sollol.router import PRIORITY_LEVELS
from sollol.state.snapshot import HostView, expires_timestamp

__all__ = ["OLLAMA_API_VERSION", "bp"]

bp = Blueprint("native", __name__)
OLLAMA_API_VERSION = "0.32.15"  # the Ollama API this gateway speaks, reported when no host is up
STREAMING = ("chat", "generate")


@bp.route("/", methods=["GET", "HEAD"])
def root() -> Response:
    return Response("Ollama is running", content_type="text/plain; charset=utf-8")


@bp.route("/api/version", methods=["GET", "HEAD"])
def version() -> Response:
    versions = [v.record.version for v in _alive() if v.record.version]
    lowest = min(versions, key=_version_key) if versions else OLLAMA_API_VERSION
    return json_response({"version": lowest})


@bp.post("/api/chat")
def chat() -> Response:
    return _infer("chat")


@bp.post("/api/generate")
def generate() -> Response:
    return _infer("generate")


@bp.post("/api/embed")
def embed() -> Response:
    return _infer("embed")


@bp.post("/api/embeddings")
def embeddings() -> Response:
    return _infer("embeddings")


@bp.post("/api/show")
def show() -> Response:
    # metadata, answered in milliseconds: never queued behind generations (top priority)
    return _infer("show", prio=PRIORITY_LEVELS)


def _infer(endpoint: str, prio: int | None = None) -> Response:
    body = json_body()
    body = validated(endpoint, body)  # null options dropped, the original `text` read as input
    stream = endpoint in STREAMING and body.get("stream") is not False  # absent means stream
    prio = priority() if prio is None else prio
    if endpoint == "embed" and (gathered := gather(body, prio)) is not None:
        return json_response(*gathered)  # many inputs: shared by several hosts (api/scatter.py)
    lc = open_call(endpoint, body, prio, stream)
    if stream:
        return ndjson_response(lc)
    return json_response(final_object(lc), lc.call)


@bp.route("/api/tags", methods=["GET", "HEAD"])
def tags() -> Response:
    """Every model installed on a live host, once, newest first (like one big Ollama)."""
    merged: dict[str, dict[str, Any]] = {}
    for view in _alive():
        for m in view.record.installed:
            name = m.get("name", "")
            if name not in merged or m.get("modified_at", "") > merged[name].get("modified_at", ""):
                merged[name] = m
    models = sorted(merged.values(), key=lambda m: m.get("modified_at", ""), reverse=True)
    return json_response({"models": models})


@bp.get("/api/ps")
def ps() -> Response:
    """Every model resident on a live host, once (the copy that stays loaded longest)."""
    merged: dict[str, dict[str, Any]] = {}
    for view in _alive():
        for m in view.record.loaded:
            name = m.get("name", "")
            if name not in merged or _expires(m) > _expires(merged[name]):
                merged[name] = m
    models = sorted(merged.values(), key=_expires, reverse=True)
    return json_response({"models": models})


@bp.route("/api/blobs/<path:digest>", methods=["HEAD", "POST"])
def blobs(digest: str = "") -> Response:
    """Blobs live on each host; pull, push, create, copy and delete fan out (sollol/api/models.py)."""
    raise NotImplementedByGateway(
        "blobs are per host and not supported through SOLLOL: upload them to each Ollama host "
        'directly, or create the model from an installed one with /api/create and "from"'
    )


def _alive() -> list[HostView]:
    return [v for v in services().fleet.views() if v.record.alive and v.record.ollama_ok]


def _expires(m: dict[str, Any]) -> float:
    return expires_timestamp(str(m.get("expires_at", "")))


def _version_key(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split("-", maxsplit=1)[0].split("."):
        parts.append(int(p) if p.isdigit() else 0)
    return tuple(parts)
