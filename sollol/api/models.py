"""Model management across the fleet: /api/pull, /api/push, /api/create, /api/copy, /api/delete.

Each chosen host gets one ``Task.MODEL_OP`` on its own queue; its worker calls the local Ollama
and writes progress to a Redis stream per host (``<prefix>models:<op id>:<host>``). The gateway
tails all of them at once and answers as one Ollama: pull, push and create stream Ollama's
progress lines merged over hosts (:mod:`sollol.api.model_progress`) or, with ``stream: false``,
answer the last line; copy and delete answer 200 with an empty body.

Hosts: ``?hosts=a,b`` or the ``X-SOLLOL-Hosts`` header choose; by default pull goes to every live
host, create/copy/delete to the live hosts that have the source model, push to one of them. A
chosen host that is down is not asked and is reported; the final line is ``success`` only when
every chosen host succeeded. Admin-only when API keys are on (sollol/api/auth.py).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, request, stream_with_context

from sollol.api.errors import BadRequest, ModelNotFound, UpstreamError
from sollol.api.requests_in import json_body
from sollol.api.responses import json_response
from sollol.api.services import services
from sollol.names import normalize_model
from sollol.state.queues import kombu_priority
from sollol.wire import ErrorInfo, EventKind, ModelOp, Task

__all__ = ["bp", "choose_hosts"]

bp = Blueprint("models", __name__)
READ_BLOCK_MS = 1000
# ``X-SOLLOL-Progress: hosts``: each host's own lines, with a "host" field, instead of merged ones
# (sollol pull draws a bar per host from them); the last line is still the merged verdict
PER_HOST_HEADER = "X-SOLLOL-Progress"


@bp.post("/api/pull")
def pull() -> Response:
    body = _body("model")
    return _progress("pull", body, choose_hosts(None))


@bp.post("/api/create")
def create() -> Response:
    body = _body("model")
    source = str(body.get("from") or "")
    if not source:
        raise BadRequest("neither 'from' or 'files' was specified")
    return _progress("create", body, choose_hosts(source, f"model '{source}' not found"))


@bp.post("/api/push")
def push() -> Response:
    body = _body("model")
    hosts, _ = choose_hosts(str(body["model"]), f"model '{body['model']}' not found")
    return _progress("push", body, (hosts[:1], {}))


@bp.post("/api/copy")
def copy() -> Response:
    body = json_body()
    source, dest = body.get("source"), body.get("destination")
    if not isinstance(source, str) or not isinstance(dest, str) or not source or not dest:
        raise BadRequest("source and destination are required")
    return _plain("copy", body, choose_hosts(source, f'model "{source}" not found'))


@bp.delete("/api/delete")
def delete() -> Response:
    body = _body("model")
    name = str(body["model"])
    return _plain("delete", body, choose_hosts(name, f"model '{name}' not found"))


@bp.get("/api/models")
def fleet_models() -> Response:
    """Per host: installed models (name, size) and resident ones (size in VRAM, expires_at)."""
    hosts = []
    for v in services().fleet.views():
        rec = v.record
        hosts.append(
            {
                "name": rec.name,
                "alive": bool(rec.alive and rec.ollama_ok),
                "installed": [
                    {"name": m.get("name", ""), "size": m.get("size", 0)} for m in rec.installed
                ],
                "loaded": [
                    {
                        "name": m.get("name", ""),
                        "size_vram": m.get("size_vram", 0),
                        "expires_at": m.get("expires_at", ""),
                    }
                    for m in rec.loaded
                ],
            }
        )
    return json_response({"hosts": sorted(hosts, key=lambda h: str(h["name"]))})


# --- choosing hosts ---------------------------------------------------------------------------


def choose_hosts(having: str | None, missing: str = "") -> tuple[list[str], dict[str, str]]:
    """(hosts to ask, chosen hosts skipped → why). ``having``: only hosts with that model."""
    live = {
        v.record.name: v for v in services().fleet.views() if v.record.alive and v.record.ollama_ok
    }
    raw = request.args.get("hosts") or request.headers.get("X-SOLLOL-Hosts") or ""
    named = [h.strip() for h in raw.split(",") if h.strip()]
    skipped = {h: "host is down or unknown (skipped)" for h in named if h not in live}
    hosts = [h for h in named if h in live] if named else sorted(live)
    if having is not None:
        want = normalize_model(having)
        hosts = [h for h in hosts if want in _installed(live[h])]
        if not hosts:
            raise ModelNotFound(missing)
    return hosts, skipped


def _installed(view: Any) -> set[str]:
    return {normalize_model(str(m.get("name", ""))) for m in view.record.installed}


# --- running and merging ----------------------------------------------------------------------


def _body(required: str) -> dict[str, Any]:
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("invalid request body")
    name = body.get(required) or body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise BadRequest(f"{required} is required")
    return {**body, required: name}


def _progress(op: str, body: dict[str, Any], chosen: tuple[list[str], dict[str, str]]) -> Response:
    from sollol.api.model_progress import ProgressMerge

    hosts, skipped = chosen
    merge = ProgressMerge(op, tuple(hosts), dict(skipped))
    per_host = request.headers.get(PER_HOST_HEADER, "") == "hosts"
    lines = _run(op, body, merge, per_host)
    if body.get("stream") is not False:
        out = (json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
        return Response(stream_with_context(out), content_type="application/x-ndjson")
    *_, last = lines
    if "error" in last:
        raise UpstreamError(str(last["error"]), 500)
    return json_response(last)


def _plain(op: str, body: dict[str, Any], chosen: tuple[list[str], dict[str, str]]) -> Response:
    from sollol.api.model_progress import ProgressMerge

    hosts, skipped = chosen
    merge = ProgressMerge(op, tuple(hosts), dict(skipped))
    *_, final = _run(op, body, merge)  # the last line says how it ended
    if "error" in final:
        raise UpstreamError(str(final["error"]), 500)
    return Response(status=200)


def _run(
    op: str, body: dict[str, Any], merge: Any, per_host: bool = False
) -> Iterator[dict[str, Any]]:
    """Publish the operation to every host and yield merged progress, then the final line."""
    svc = services()
    cfg = svc.cfg
    op_id = uuid.uuid4().hex
    keys = {cfg.key("models", op_id, h): h for h in merge.hosts}
    for key, host in keys.items():
        svc.celery.send_task(
            Task.MODEL_OP,
            args=[op_id, ModelOp(op, body, host, key).to_json()],
            queue=host,
            routing_key=host,
            priority=kombu_priority(10),
            expires=cfg.model_op_start_timeout_s,
            ignore_result=True,
        )
    for host, why in merge.skipped.items():
        yield {"status": f"skipping {host}: {why}"}
    yield from _tail(svc, keys, merge, per_host)
    svc.fleet.refresh(quiet=True)  # the workers published their new tags: route on them now
    yield merge.final()


def _tail(svc: Any, keys: dict[str, str], merge: Any, per_host: bool) -> Iterator[dict[str, Any]]:
    redis = svc.redis
    cfg = svc.cfg
    last = dict.fromkeys(keys, "0-0")
    started: set[str] = set()
    t0 = time.monotonic()
    while merge.pending:
        waited = time.monotonic() - t0
        if waited > cfg.model_op_timeout_s:
            break
        if waited > cfg.model_op_start_timeout_s:
            for host in set(merge.pending) - started:
                merge.fail(host, "its worker did not take the task up")
        open_keys = {k: last[k] for k, h in keys.items() if h in merge.pending}
        if not open_keys:
            break
        for key, entries in redis.xread(open_keys, block=READ_BLOCK_MS) or []:
            host = keys[key]
            for entry_id, fields in entries:
                last[key] = entry_id
                kind, data = fields["k"], fields["d"]
                started.add(host)
                yield from _event(merge, host, kind, data, per_host)
    for key in keys:
        redis.delete(key)


def _event(merge: Any, host: str, kind: str, data: str, per_host: bool) -> Iterator[dict[str, Any]]:
    if kind == EventKind.CHUNK:
        line = json.loads(data)
        merged = merge.feed(host, line)
        yield from [{**line, "host": host}] if per_host else merged
    elif kind == EventKind.FINAL:
        merge.succeed(host)
        if per_host:
            yield {"host": host, "status": "success"}
    elif kind == EventKind.ERROR:
        why = ErrorInfo.from_json(json.loads(data)).error
        merge.fail(host, why)
        if per_host:
            yield {"host": host, "error": why}
