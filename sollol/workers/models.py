"""Model management on a host's worker: pull, push, create, copy, delete (and placement's
``load``: /api/generate without a prompt) against the local Ollama, with progress written to a
Redis stream the gateway merges for its client.

The task runs on the host's own queue (``Task.MODEL_OP``, a :class:`~sollol.wire.ModelOp`). Each
of Ollama's progress lines becomes one ``chunk`` entry (at most one per ``PROGRESS_EVERY_S`` for
the same status, so a multi-gigabyte pull does not flood Redis); the last line becomes ``final``,
a failure an ``error`` entry (:class:`~sollol.wire.ErrorInfo`). After a success the worker
publishes its heartbeat at once, so routing sees the new (or removed) model immediately.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from celery import Celery

from sollol.state.registry import write_heartbeat
from sollol.state.streams import StreamWriter
from sollol.wire import ErrorInfo, ErrorReason, EventKind, ModelOp, StartInfo, Task, compact_json
from sollol.workers.context import WorkerContext, get_context
from sollol.workers.errors import OllamaError
from sollol.workers.heartbeat import probe

__all__ = ["PROGRESS_EVERY_S", "register", "run_model_op"]

log = logging.getLogger("sollol.worker")
PROGRESS_EVERY_S = 0.1  # seconds between two progress entries of the same status
STREAMED = {"pull", "push", "create"}  # Ollama answers these with a progress stream
METHODS = {"pull": "POST", "push": "POST", "create": "POST", "copy": "POST", "delete": "DELETE"}
PATHS = {"load": "generate"}  # placement's load-only request: /api/generate with no prompt


def register(app: Celery) -> None:
    """Register the model-management task on ``app``."""

    @app.task(shared=False, name=Task.MODEL_OP, ignore_result=True, acks_late=False)
    def model_op(op_id: str, op: dict[str, Any]) -> bool:
        return run_model_op(get_context(app.sollol_config), op_id, op)


def run_model_op(ctx: WorkerContext, op_id: str, raw: dict[str, Any]) -> bool:
    """Run one model operation on this host's Ollama; True when it succeeded."""
    op = ModelOp.from_json(raw)
    out = StreamWriter(ctx.redis, op.stream, 1, ttl_s=ctx.cfg.stream_ttl_s)
    out.emit_json(EventKind.START, StartInfo(op.host, ctx.worker_name, 1).to_json())
    try:
        last = _call(ctx, op, out)
    except OllamaError as exc:
        reason = getattr(exc, "reason", ErrorReason.UPSTREAM)
        out.emit_json(EventKind.ERROR, ErrorInfo(exc.status, str(exc), reason).to_json())
        return False
    except Exception as exc:  # a worker bug must still end the gateway's wait
        log.exception("model %s %s failed", op.op, op_id)
        out.emit_json(EventKind.ERROR, ErrorInfo(500, str(exc)).to_json())
        return False
    if "error" in last:
        out.emit_json(EventKind.ERROR, ErrorInfo(500, str(last["error"])).to_json())
        return False
    _refresh(ctx)
    out.emit(EventKind.FINAL, compact_json(last))
    return True


def _call(ctx: WorkerContext, op: ModelOp, out: StreamWriter) -> dict[str, Any]:
    """Send the request; relay progress lines; return the last one (``{}`` for copy/delete)."""
    body = dict(op.body)
    body["stream"] = op.op in STREAMED
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    path = f"/api/{PATHS.get(op.op, op.op)}"
    up = ctx.ollama._send(METHODS.get(op.op, "POST"), path, data, headers)
    ctx.ollama.wait(up)
    if op.op not in STREAMED:
        ctx.ollama.body(up)
        return {}
    last: dict[str, Any] = {}
    sent_at, sent_status = 0.0, ""
    for line in ctx.ollama.lines(up):
        last = json.loads(line)
        if "error" in last or last.get("status") == "success":
            continue  # the terminal line is written by the caller
        now = time.monotonic()
        status = str(last.get("status", ""))
        done = last.get("total") and last.get("completed") == last.get("total")
        if done or status != sent_status or now - sent_at >= PROGRESS_EVERY_S:
            out.emit(EventKind.CHUNK, line)
            sent_at, sent_status = now, status
    return last


def _refresh(ctx: WorkerContext) -> None:
    """Publish this host's record now (tags changed); the heartbeat loop is told as well."""
    try:
        write_heartbeat(ctx.redis, ctx.cfg, probe(ctx))
    except Exception as exc:
        log.warning("could not refresh the heartbeat after a model change: %s", exc)
    ctx.refresh_soon()
