"""Autobatch embedding rounds: a beat tick cuts queued docs into chunks and runs a Celery chord.

    sollol.batch.tick         beat, every autobatch_interval_s, and whenever a job arrives on an
                              idle fleet or a host finishes a chunk: sweep finished or lost rounds,
                              then start a round for the hosts that have no chunk: a CHORD whose
                              header is one embed-chunk task per idle host (batch_plan.split) on
                              that host's queue at batch_priority, and whose body is round_done
                              on the control queue
    sollol.batch.embed_chunk  on a host's worker: embed the chunk's docs that have no vector yet
                              with the local Ollama's /api/embed, store vectors once per doc, then
                              go on with the job's next docs (up to CONTINUE_S, and only while
                              no interactive request waits for the slot); on a
                              host failure (or when redelivered after its worker died) it retries
                              itself on another host, up to batch_chunk_retries times; when it
                              ends it frees its host and asks for a tick
    sollol.batch.round_done   chord body: forget the round, start the next one

One chunk per host at a time: it holds one of the worker's slots and leaves the others to
interactive requests, which also outrank chunks in the queue. A host that finishes gets its next
chunk without waiting for the slower hosts of its round.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from celery import Celery, chord

from sollol.state.batch import BatchStore
from sollol.state.circuit import record_failure
from sollol.state.queues import kombu_priority, queue_depths
from sollol.state.snapshot import read_fleet, snapshot_of
from sollol.wire import CONTROL_QUEUE, Task
from sollol.workers.batch_chunk import ChunkFailed, run_chunk
from sollol.workers.batch_plan import lanes_for, split
from sollol.workers.batch_rounds import Rounds
from sollol.workers.context import get_context

__all__ = ["EMBED_CHUNK", "ROUND_DONE", "TICK", "register", "start_rounds"]

EMBED_CHUNK = str(Task.BATCH_EMBED_CHUNK)  # plain str: Celery takes an enum for a task class
ROUND_DONE = str(Task.BATCH_ROUND_DONE)
TICK = str(Task.BATCH_TICK)
CHUNK_EXPIRES_S = 3600.0  # a chunk may wait behind interactive traffic for a long time
CONTINUE_S = 20.0  # a chunk task goes on with the job's next docs for at most this long
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
    host = ctx.host or str(spec.get("host", ""))
    try:
        return _run(app, task, chunk_id, spec, host)
    finally:  # done, given up or moved to another host: this host takes the next chunk
        Rounds(ctx.redis, ctx.cfg).free(host, chunk_id)
        send_tick(app)


def _run(app: Celery, task: Any, chunk_id: str, spec: dict[str, Any], host: str) -> dict[str, Any]:
    ctx = get_context(app.sollol_config)
    store = BatchStore(ctx.redis, ctx.cfg)
    redelivered = bool((task.request.delivery_info or {}).get("redelivered"))
    if redelivered and _retry_elsewhere(app, task, chunk_id, spec, host, "its worker died"):
        return {}
    try:
        result = run_chunk(ctx, store, chunk_id, spec, host)
    except ChunkFailed as exc:
        record_failure(ctx.redis, ctx.cfg, host, f"batch chunk: {exc}", time.time())
        if task.request.retries < task.max_retries and _retry_elsewhere(
            app, task, chunk_id, spec, host, str(exc)
        ):
            return {}
        store.put_errors(spec["job"], exc.doc_errors)
        return {"failed": len(exc.doc_errors)}
    return _continue(ctx, store, chunk_id, spec, host, result)


def _continue(
    ctx: Any, store: BatchStore, chunk_id: str, spec: dict[str, Any], host: str, result: Any
) -> dict[str, Any]:
    """Keep the host busy without a round trip through the tick: claim the job's next docs (as
    many as this chunk had) and embed them, for up to CONTINUE_S seconds. Each claim is recorded
    as a round of its own, so a worker that dies meanwhile loses nothing."""
    rounds, size = Rounds(ctx.redis, ctx.cfg), int(spec["end"]) - int(spec["start"])
    until, k = time.monotonic() + CONTINUE_S, 0
    while time.monotonic() < until and result.get("docs") and not result.get("skipped"):
        if _interactive_waiting(ctx.redis, host, int(spec["priority"])):
            break  # free the slot now; the next chunk queues behind that work, by priority
        start, end = store.claim(spec["job"], size)
        if end <= start:
            break
        k += 1
        sub_id, sub = f"{chunk_id}+{k}", {**spec, "start": start, "end": end}
        rate = store.rates(spec["model"]).get(host) or 1.0
        rounds.add(sub_id, spec["job"], [(host, start, end)], (end - start) / rate)
        try:
            result = run_chunk(ctx, store, sub_id, sub, host)
        except ChunkFailed as exc:  # another host takes the range; this one rests
            record_failure(ctx.redis, ctx.cfg, host, f"batch chunk: {exc}", time.time())
            store.redo(spec["job"], start, end)
            rounds.finish(sub_id)
            break
        rounds.finish(sub_id)
    return {"host": host, "chunks": k + 1}


def _interactive_waiting(redis: Any, host: str, priority: int) -> bool:
    """True when messages above the batch's priority wait in ``host``'s queue (the worker's
    slots are all taken, or it would have fetched them)."""
    depths = queue_depths(redis, [host])[host]
    return sum(depths[priority:]) > 0


def send_tick(app: Celery) -> None:
    """Ask the control worker for a tick now (best effort: beat sends one every interval)."""
    try:
        app.send_task(
            TICK,
            queue=CONTROL_QUEUE,
            routing_key=CONTROL_QUEUE,
            priority=kombu_priority(10),
            expires=60,
            ignore_result=True,
        )
    except Exception as exc:
        log.debug("could not send an autobatch tick: %s", exc)


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
    Rounds(ctx.redis, cfg).occupy(to, chunk_id, time.time() + 2 * cfg.visibility_timeout_s + 60)
    log.warning("chunk %s on %s failed (%s): retrying on %s", chunk_id, host, why, to)
    raise task.retry(
        args=[chunk_id, {**spec, "host": to, "tried": tried}],
        queue=to,
        routing_key=to,
        countdown=0,
        max_retries=cfg.batch_chunk_retries,
    )


def start_rounds(app: Celery) -> int:
    """Sweep rounds that ended or were lost, then start rounds for idle hosts; returns rounds
    started."""
    cfg = app.sollol_config
    ctx = get_context(cfg)
    rounds = Rounds(ctx.redis, cfg)
    if not cfg.autobatch_enabled or not rounds.lock():
        return 0
    started = 0
    try:
        store = BatchStore(ctx.redis, cfg)
        while True:
            rounds.sweep(store)
            rounds.repair(store)
            while _start_round(app, store, rounds):
                started += 1
            if not rounds.again():
                break
    finally:
        rounds.unlock()
    return started


def _start_round(app: Celery, store: BatchStore, rounds: Rounds) -> bool:
    """Plan and publish one round, over the idle hosts, for the first job with docs to run."""
    cfg = app.sollol_config
    snapshot = snapshot_of(read_fleet(store.redis, cfg), time.time())
    busy = rounds.busy_hosts()
    for job in rounds.runnable(store):
        h = store.job(job)
        model, priority = h["model"], int(h["priority"])
        lanes = lanes_for(snapshot, model, store.rates(model), priority)
        idle = [lane for lane in lanes if lane.host not in busy]
        if not idle:
            continue
        fastest = max(lane.docs_per_s for lane in lanes)
        plan = split(idle, int(h["total"]), cfg.autobatch_max_batch_size, fastest)
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
    until = rounds.deadline(expected_s)
    for i, (host, _, _) in enumerate(chunks):
        rounds.occupy(host, f"{round_id}-{i}", until)
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
