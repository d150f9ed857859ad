"""Autobatch embedding rounds: a beat tick cuts queued docs into chunks and runs a Celery chord.

    sollol.batch.tick         beat, every autobatch_interval_s (and when a job arrives on an idle
                              fleet): sweep finished or lost rounds, then start rounds until
                              ROUNDS_IN_FLIGHT run; a round is a CHORD whose header is one
                              embed-chunk task per host (batch_plan.split) on that host's queue
                              at batch_priority, and whose body is round_done on the control queue
    sollol.batch.embed_chunk  on a host's worker: embed the chunk's docs that have no vector yet
                              with the local Ollama's /api/embed, store vectors once per doc; on a
                              host failure (or when redelivered after its worker died) it retries
                              itself on another host, up to batch_chunk_retries times
    sollol.batch.round_done   chord body: forget the round, start the next one at once

Two rounds in flight keep each host's next chunk queued while the current one runs, and leave
the worker's other slots to interactive requests, which also outrank chunks in the queue.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery import Celery, chord

from sollol.state.batch import BatchStore
from sollol.state.queues import kombu_priority
from sollol.state.snapshot import read_fleet, snapshot_of
from sollol.workers.batch_chunk import ChunkFailed, run_chunk
from sollol.workers.batch_plan import lanes_for, split
from sollol.workers.batch_rounds import Rounds
from sollol.workers.celery_app import CONTROL_QUEUE
from sollol.workers.context import get_context

__all__ = ["EMBED_CHUNK", "ROUNDS_IN_FLIGHT", "ROUND_DONE", "TICK", "register", "start_rounds"]

EMBED_CHUNK = "sollol.batch.embed_chunk"
ROUND_DONE = "sollol.batch.round_done"
TICK = "sollol.batch.tick"
ROUNDS_IN_FLIGHT = 2
CHUNK_EXPIRES_S = 3600.0  # a chunk may wait behind interactive traffic for a long time
log = logging.getLogger("sollol.batch")


def register(app: Celery) -> None:
    """Register the batch tasks on ``app`` (the schedule entry lives in workers/beat.py)."""
    cfg = app.sollol_config

    @app.task(
        shared=False,
        name=EMBED_CHUNK,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        ignore_result=False,  # the chord counts its header's results
        max_retries=cfg.batch_chunk_retries,
    )
    def embed_chunk(self: Any, chunk_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        return _embed_chunk(app, self, chunk_id, spec)

    @app.task(shared=False, name=ROUND_DONE, ignore_result=True)
    def round_done(results: Any, round_id: str) -> int:
        ctx = get_context(cfg)
        Rounds(ctx.redis, cfg).finish(round_id)
        return start_rounds(app)

    @app.task(shared=False, name=TICK, ignore_result=True)
    def tick() -> int:
        return start_rounds(app)


def _embed_chunk(app: Celery, task: Any, chunk_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    ctx = get_context(app.sollol_config)
    store = BatchStore(ctx.redis, ctx.cfg)
    host = ctx.host or str(spec.get("host", ""))
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    if redelivered and _retry_elsewhere(app, task, chunk_id, spec, host, "its worker died"):
        return {}
    try:
        return run_chunk(ctx, store, chunk_id, spec, host)
    except ChunkFailed as exc:
        if task.request.retries < task.max_retries and _retry_elsewhere(
            app, task, chunk_id, spec, host, str(exc)
        ):
            return {}
        store.put_errors(spec["job"], exc.doc_errors)
        return {"failed": len(exc.doc_errors)}


def _retry_elsewhere(
    app: Celery, task: Any, chunk_id: str, spec: dict[str, Any], host: str, why: str
) -> bool:
    """Publish the chunk again on another host (raises celery's Retry); False: none left."""
    cfg = app.sollol_config
    ctx = get_context(cfg)
    tried = [*spec.get("tried", []), host]
    snapshot = snapshot_of(read_fleet(ctx.redis, cfg), time.time())
    store = BatchStore(ctx.redis, cfg)
    lanes = lanes_for(snapshot, spec["model"], store.rates(spec["model"]), spec["priority"])
    others = [lane.host for lane in lanes if lane.host not in tried] or [
        lane.host for lane in lanes if lane.host != host
    ]
    if not others:
        return False
    to = others[0]
    log.warning("chunk %s on %s failed (%s): retrying on %s", chunk_id, host, why, to)
    raise task.retry(
        args=[chunk_id, {**spec, "host": to, "tried": tried}],
        queue=to,
        routing_key=to,
        countdown=0,
        max_retries=cfg.batch_chunk_retries,
    )


def start_rounds(app: Celery) -> int:
    """Sweep rounds that ended or were lost, then start new ones; returns rounds started."""
    cfg = app.sollol_config
    ctx = get_context(cfg)
    rounds = Rounds(ctx.redis, cfg)
    if not cfg.autobatch_enabled or not rounds.lock():
        return 0
    started = 0
    try:
        store = BatchStore(ctx.redis, cfg)
        rounds.sweep(store)
        rounds.repair(store)
        while rounds.count() < ROUNDS_IN_FLIGHT and _start_round(app, store, rounds):
            started += 1
    finally:
        rounds.unlock()
    return started


def _start_round(app: Celery, store: BatchStore, rounds: Rounds) -> bool:
    """Plan and publish one round for the first job that has docs to schedule."""
    cfg = app.sollol_config
    snapshot = snapshot_of(read_fleet(store.redis, cfg), time.time())
    for job in rounds.runnable(store):
        h = store.job(job)
        model, priority = h["model"], int(h["priority"])
        lanes = lanes_for(snapshot, model, store.rates(model), priority)
        plan = split(lanes, int(h["total"]), cfg.autobatch_max_batch_size)
        chunks = []
        for host, n in plan:
            start, end = store.claim(job, n)
            if end > start:
                chunks.append((host, start, end))
        if chunks:
            _publish(app, rounds, job, h, chunks, lanes)
            return True
    return False


def _publish(
    app: Celery,
    rounds: Rounds,
    job: str,
    h: dict[str, str],
    chunks: list[tuple[str, int, int]],
    lanes: list[Any],
) -> None:
    round_id = uuid.uuid4().hex[:12]
    rate = {lane.host: lane.docs_per_s for lane in lanes}
    expected_s = max((e - s) / max(rate.get(host, 1.0), 1e-3) for host, s, e in chunks)
    rounds.add(round_id, job, chunks, expected_s)
    priority = int(h["priority"])
    header = []
    for i, (host, start, end) in enumerate(chunks):
        spec = {
            "job": job,
            "start": start,
            "end": end,
            "model": h["model"],
            "endpoint": "embed",  # the keys beat's reroute reads to move a message off a dead host
            "task_type": "embedding",
            "priority": priority,
            "host": host,
            "options": h.get("options") or "{}",
            "dimensions": int(h.get("dimensions") or 0),
        }
        header.append(
            app.signature(
                EMBED_CHUNK,
                args=[f"{round_id}-{i}", spec],
                queue=host,
                routing_key=host,
                priority=kombu_priority(priority),
                expires=CHUNK_EXPIRES_S,
            )
        )
    body = app.signature(
        ROUND_DONE,
        args=[round_id],
        queue=CONTROL_QUEUE,  # explicit: an unrouted chord body waits in queue "celery" forever
        routing_key=CONTROL_QUEUE,
        priority=kombu_priority(10),
    )
    chord(header, body).apply_async()
    log.info("batch %s: round %s, %d chunks on %s", job, round_id, len(chunks), rate.keys())
