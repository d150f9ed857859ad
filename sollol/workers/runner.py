"""One request on one worker: call the local Ollama, relay every line to the request's stream, learn.

The task in :mod:`sollol.workers.tasks` is a thin wrapper around :func:`run_job`, which is plain
Python and can be driven by tests against a simulated node without Celery in the way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from typing import Any

from sollol.router import TimingSample
from sollol.state import StreamWriter, inflight
from sollol.state.stats import record_sample
from sollol.workers.context import InFlight, WorkerContext
from sollol.workers.errors import ModelMissing, OllamaError, StreamBroken
from sollol.workers.ollama import STREAMING, Upstream

__all__ = ["run_job", "skip_reason"]

log = logging.getLogger("sollol.worker")
TERMINAL = (b"final", b"error", b"cancelled")
NS = 1e9


def skip_reason(ctx: WorkerContext, request_id: str, attempt: int) -> str | None:
    """Why this attempt must not run: it already ended (a redelivered message), a later attempt
    superseded it (failover), or the client went away. None if it should run."""
    cfg = ctx.cfg
    pipe = ctx.redis.pipeline(transaction=False)
    pipe.xrevrange(cfg.key("stream", request_id), count=1)
    pipe.get(cfg.key("attempt", request_id))
    pipe.get(cfg.key("cancel", request_id))
    last, current, cancel = pipe.execute()
    if last and last[0][1].get(b"k") in TERMINAL and int(last[0][1].get(b"a", 0)) >= attempt:
        return "duplicate"
    if current is not None and int(current) > attempt:
        return "superseded"
    if cancel is not None and int(cancel) >= attempt:
        return "cancelled"
    return None


def run_job(ctx: WorkerContext, request_id: str, job: Mapping[str, Any],
            delivery_tag: str | None = None) -> str:
    """Execute ``job`` (endpoint, body, host, attempt, …) for ``request_id``; returns the outcome."""
    cfg = ctx.cfg
    key = cfg.key("stream", request_id)
    attempt = int(job.get("attempt", 1))
    skip = skip_reason(ctx, request_id, attempt)
    if skip is not None:
        return skip
    writer = StreamWriter(ctx.redis, key, attempt, cfg.stream_maxlen, cfg.stream_ttl_s)
    host = ctx.host or str(job.get("host", ""))  # a message moved off a dead host runs here
    model = str(job.get("model", ""))
    item = InFlight(request_id, host, inflight.member(model, request_id), delivery_tag, attempt)
    ctx.track(item)
    inflight.begin(ctx.redis, cfg, host, item.member)
    try:
        writer.emit_json("start", {"host": host, "worker": ctx.worker_name, "attempt": attempt})
        return _execute(ctx, item, job, writer)
    finally:
        ctx.untrack(request_id)
        inflight.end(ctx.redis, cfg, host, item.member)


def _execute(ctx: WorkerContext, item: InFlight, job: Mapping[str, Any],
             writer: StreamWriter) -> str:
    endpoint = str(job["endpoint"])
    model = str(job.get("model", ""))
    cold = model not in ctx.loaded_models if ctx.loaded_models is not None else False
    started = time.monotonic()
    try:
        upstream = ctx.ollama.open(endpoint, dict(job["body"]))
        item.upstream = upstream
        if item.cancelled:
            upstream.abort()
        final = _relay(ctx, upstream, writer, endpoint)
    except OllamaError as exc:
        _report_error(ctx, item, job, writer, exc, cold)
        return exc.reason
    except Exception as exc:  # a bug must reach the client as an error, never as a hang
        log.exception("request %s failed in the worker", item.request_id)
        writer.emit_json("error", {"status": 500, "error": f"SOLLOL worker error: {exc}",
                                   "reason": "upstream", "retryable": False})
        return "bug"
    if final is None:
        writer.emit("cancelled")
        return "cancelled"
    _learn(ctx, item.host, job, final, cold, time.monotonic() - started)
    return "ok"


def _relay(ctx: WorkerContext, upstream: Upstream, writer: StreamWriter,
           endpoint: str) -> dict[str, Any] | None:
    """Copy Ollama's output to the stream; returns the final object, or None if aborted."""
    if endpoint not in STREAMING:
        body = b"".join(ctx.ollama.lines(upstream)) if not upstream.aborted else b""
        if upstream.aborted:
            return None
        writer.emit("final", body)
        return {}
    for line in ctx.ollama.lines(upstream):
        if line.startswith(b'{"error"'):
            message = json.loads(line).get("error", "error")
            raise _MidStreamError(message, chunks=writer.written - 1)
        if b'"done":true' in line:
            writer.emit("final", line)
            return dict(json.loads(line))
        writer.emit("chunk", line)
    if upstream.aborted:
        return None
    raise StreamBroken("Ollama closed the stream without a final object")


class _MidStreamError(OllamaError):
    """Ollama's own ``{"error": ...}`` line inside a 200 stream."""

    status = 500

    def __init__(self, message: str, chunks: int) -> None:
        super().__init__(message)
        self.retryable = chunks == 0
        self.reason = "upstream"


def _report_error(ctx: WorkerContext, item: InFlight, job: Mapping[str, Any],
                  writer: StreamWriter, exc: OllamaError, cold: bool) -> None:
    if item.cancelled:
        writer.emit("cancelled")
        return
    writer.emit_json("error", {"status": exc.status, "error": exc.message, "reason": exc.reason,
                               "retryable": exc.retryable, "chunks": max(0, writer.written - 1)})
    if isinstance(exc, ModelMissing):
        ctx.refresh_soon()
    elif exc.reason in ("host", "upstream"):
        sample = TimingSample(ok=False, load_s=0.0, prompt_tokens=0, prompt_s=0.0, gen_tokens=0,
                              gen_s=0.0, cold=cold)
        _store(ctx, item.host, job, sample)


def _learn(ctx: WorkerContext, host: str, job: Mapping[str, Any], final: Mapping[str, Any],
           cold: bool, wall_s: float) -> None:
    """Fold Ollama's own timings of a successful request into the host's learned rates."""
    if not final:  # embeddings/show: only the wall time is known
        final = {"total_duration": int(wall_s * NS)}
    sample = TimingSample(
        ok=True,
        load_s=final.get("load_duration", 0) / NS,
        prompt_tokens=int(final.get("prompt_eval_count", 0)),
        prompt_s=final.get("prompt_eval_duration", 0) / NS,
        gen_tokens=int(final.get("eval_count", 0)),
        gen_s=final.get("eval_duration", 0) / NS,
        cold=cold,
    )
    _store(ctx, host, job, sample)
    if cold:
        ctx.refresh_soon()


def _store(ctx: WorkerContext, host: str, job: Mapping[str, Any], sample: TimingSample) -> None:
    model = str(job.get("model", ""))
    if not model or str(job.get("endpoint")) == "show":
        return
    try:
        record_sample(ctx.redis, ctx.cfg, host, model, sample, job.get("task_type"))
    except Exception:  # learning must never fail a request
        log.warning("could not record timings for %s on %s", model, host, exc_info=True)
