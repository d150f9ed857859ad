"""One request on one worker: call the local Ollama, relay every line to the request's stream, learn.

The task in :mod:`sollol.workers.tasks` is a thin wrapper around :func:`run_job`, which is plain
Python and can be driven by tests against a simulated node without Celery in the way.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from sollol.protocol import AnswerJoiner
from sollol.router import TimingSample
from sollol.state import StreamWriter, inflight
from sollol.wire import ErrorInfo, ErrorReason, EventKind, Job, StartInfo, Verdict, compact_json
from sollol.workers.coalesce import ChunkCoalescer
from sollol.workers.context import InFlight, WorkerContext
from sollol.workers.errors import ModelMissing, OllamaError, StreamBroken
from sollol.workers.ollama import STREAMING, Upstream

__all__ = ["run_job"]

log = logging.getLogger("sollol.worker")
NS = 1e9
TICK_S = 2.0  # liveness entries while joining a non-streamed answer


def run_job(
    ctx: WorkerContext,
    request_id: str,
    message: Mapping[str, Any],
    delivery_tag: str | None = None,
) -> str:
    """Execute one attempt (``message`` is a :class:`~sollol.wire.Job` as JSON) for
    ``request_id``; returns the outcome (ok, cancelled, a Verdict or an ErrorReason)."""
    cfg, job = ctx.cfg, Job.from_json(message)
    host = ctx.host or job.host  # a message moved off a dead host runs here
    item = InFlight(
        request_id, host, inflight.member(job.model, request_id), delivery_tag, job.attempt
    )
    start = StartInfo(host=host, worker=ctx.worker_name, attempt=job.attempt)
    verdict = ctx.starter.begin(request_id, start, item.member)
    if verdict != Verdict.OK:
        return str(verdict)
    writer = StreamWriter(
        ctx.redis,
        cfg.key("stream", request_id),
        job.attempt,
        cfg.stream_maxlen,
        cfg.stream_ttl_s,
        written=1,
    )
    running_key = cfg.key("running", host)
    writer.on_close.append(lambda pipe: pipe.zrem(running_key, item.member))
    ctx.track(item)
    try:
        return _execute(ctx, item, job, writer)
    finally:
        ctx.untrack(request_id)
        writer.release()
        if not writer.closed:
            inflight.end(ctx.redis, cfg, host, item.member)


def _execute(ctx: WorkerContext, item: InFlight, job: Job, writer: StreamWriter) -> str:
    cold = job.model not in ctx.loaded_models if ctx.loaded_models is not None else False
    started = time.monotonic()
    try:
        upstream = ctx.ollama.start(job.endpoint, dict(job.body), item.request_id)
        item.upstream = upstream  # from here on a cancellation can abort the call
        if item.cancelled:
            upstream.abort()
        ctx.ollama.wait(upstream)
        final = _relay(ctx, upstream, writer, job.endpoint, job.stream)
    except OllamaError as exc:
        _report_error(ctx, item, job, writer, exc, cold)
        return exc.reason
    except Exception as exc:  # a bug must reach the client as an error, never as a hang
        log.exception("request %s failed in the worker", item.request_id)
        error = ErrorInfo(500, f"SOLLOL worker error: {exc}", ErrorReason.UPSTREAM)
        writer.emit_json(EventKind.ERROR, error.to_json())
        return "bug"
    if final is None:
        writer.emit(EventKind.CANCELLED)
        return "cancelled"
    _learn(ctx, item.host, job, final, cold, time.monotonic() - started)
    return "ok"


def _relay(
    ctx: WorkerContext,
    upstream: Upstream,
    writer: StreamWriter,
    endpoint: str,
    client_streams: bool = True,
) -> dict[str, Any] | None:
    """Copy Ollama's output to the stream; returns the final object, or None if aborted.

    When the client did not ask for a stream, lines are joined here and sent once (with a
    ``tick`` entry at most every TICK_S so the gateway knows the request is alive)."""
    if endpoint not in STREAMING:
        body = ctx.ollama.body(upstream)
        if upstream.aborted:
            return None
        writer.emit(EventKind.FINAL, body)
        return {}
    lines = ctx.ollama.lines(upstream)
    try:
        joiner = None if client_streams else AnswerJoiner(endpoint)
        final = _copy_lines(lines, writer, joiner, upstream.more_within)
        if final is not None:
            for _ in lines:  # the chunked terminator: lets the connection go back to the pool
                pass
            return final
    finally:
        lines.close()  # on any exception too: closes the socket rather than leaking it
    if upstream.aborted:
        return None
    raise StreamBroken("Ollama closed the stream without a final object")


def _copy_lines(
    lines: Iterable[bytes],
    writer: StreamWriter,
    joiner: AnswerJoiner | None,
    more: Callable[[float], bool],
) -> dict[str, Any] | None:
    """Relay NDJSON lines until Ollama's final object (returned) or the end of the body (None).

    Streamed lines are coalesced (:mod:`sollol.workers.coalesce`); what was gathered is written
    before the final line, and before a failure once part of the answer reached the stream (a
    failure before any line reached it lets the gateway move the request to another host)."""
    chunks = ChunkCoalescer(writer, more)
    try:
        return _copy(lines, writer, joiner, chunks)
    except OllamaError:
        if chunks.sent:
            chunks.flush()
        raise


def _copy(
    lines: Iterable[bytes],
    writer: StreamWriter,
    joiner: AnswerJoiner | None,
    chunks: ChunkCoalescer,
) -> dict[str, Any] | None:
    last_tick = time.monotonic()
    for line in lines:
        if line.startswith(b'{"error"'):
            message = json.loads(line).get("error", "error")
            raise _MidStreamError(message, chunks=chunks.sent)
        if b'"done":true' in line:
            chunks.flush()
            final = dict(json.loads(line))
            if joiner is None:
                writer.emit(EventKind.FINAL, line)
            else:
                joiner.add(final)
                writer.emit(EventKind.FINAL, compact_json(joiner.result()))
            return final
        if joiner is None:
            chunks.add(line)
            chunks.settle()
            continue
        joiner.add(json.loads(line))
        if time.monotonic() - last_tick >= TICK_S:
            last_tick = time.monotonic()
            writer.emit(EventKind.TICK)
    if chunks.sent:  # the body ended early: keep the partial answer whole before the error
        chunks.flush()
    return None


class _MidStreamError(OllamaError):
    """Ollama's own ``{"error": ...}`` line inside a 200 stream."""

    status = 500

    def __init__(self, message: str, chunks: int) -> None:
        super().__init__(message)
        self.retryable = chunks == 0
        self.reason = ErrorReason.UPSTREAM


def _report_error(
    ctx: WorkerContext,
    item: InFlight,
    job: Job,
    writer: StreamWriter,
    exc: OllamaError,
    cold: bool,
) -> None:
    if item.cancelled:
        writer.emit(EventKind.CANCELLED)
        return
    reason = exc.reason
    error = ErrorInfo(exc.status, exc.message, reason, exc.retryable, max(0, writer.written - 1))
    writer.emit_json(EventKind.ERROR, error.to_json())
    if isinstance(exc, ModelMissing):
        ctx.refresh_soon()
    elif reason.blames_host:
        sample = TimingSample(
            ok=False, load_s=0.0, prompt_tokens=0, prompt_s=0.0, gen_tokens=0, gen_s=0.0, cold=cold
        )
        _store(ctx, item.host, job, sample)


def _learn(
    ctx: WorkerContext,
    host: str,
    job: Job,
    final: Mapping[str, Any],
    cold: bool,
    wall_s: float,
) -> None:
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
        active=_running_of(ctx, job.model),  # rates are stored as solo rates
    )
    _store(ctx, host, job, sample)
    if cold:
        ctx.refresh_soon()


def _running_of(ctx: WorkerContext, model: str) -> int:
    """Requests of ``model`` this worker is executing now (the finishing one included)."""
    prefix = inflight.member(model, "")
    return sum(1 for it in ctx.current() if it.member.startswith(prefix))


def _store(ctx: WorkerContext, host: str, job: Job, sample: TimingSample) -> None:
    """Hand the sample to the worker's learner thread: learning never delays an answer."""
    if job.model and job.endpoint != "show":
        ctx.learn(host, job.model, sample, job.task_type)
