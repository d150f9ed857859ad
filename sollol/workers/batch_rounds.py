"""Autobatch rounds in flight, in Redis: which doc ranges each chord covers and until when.

    batch:rounds      HASH  round id → JSON {"job", "chunks": [[host, start, end]…], "deadline"}
    batch:busy        HASH  host → JSON {"chunk", "until"}: the one chunk a host works on
    batch:tick-lock   STR   held by the one tick that plans rounds (beat, chord bodies, chunks race)
    batch:tick-again  STR   a tick found the lock taken: the holder plans once more before leaving

A round ends when its chord body runs, or when every doc of its ranges is answered (the body may
never run: a Redis restart can lose the chord's counter). A round still unanswered past its
deadline was lost (its messages or results went with Redis): its ranges are scheduled again and
the docs already answered are skipped when they run. A job with every doc claimed, no round in
flight and docs still unanswered lost its round records too (a Redis crash): ``repair`` finds it.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sollol.config import SOLLOLConfig
from sollol.state.batch import ACTIVE, BatchNotFound, BatchStore

__all__ = ["Rounds"]

LOCK_MS = 30_000
DEADLINE_SLACK_S = 10.0
REPAIR_SPAN = 100  # docs per rescheduled range when a job's lost docs are found by repair


class Rounds:
    """The rounds of every batch job that are in flight."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig) -> None:
        self.redis = redis
        self.cfg = cfg
        self.key = cfg.key("batch", "rounds")
        self.lock_key = cfg.key("batch", "tick-lock")
        self.again_key = cfg.key("batch", "tick-again")
        self.busy_key = cfg.key("batch", "busy")
        self.token = str(time.monotonic_ns())

    def lock(self) -> bool:
        """Take the planning lock; if another tick holds it, ask that one to plan once more."""
        if self.redis.set(self.lock_key, self.token, nx=True, px=LOCK_MS):
            return True
        self.redis.set(self.again_key, 1, px=LOCK_MS)
        return False

    def again(self) -> bool:
        """True (once) if a tick came while this one held the lock."""
        return bool(self.redis.getdel(self.again_key))

    def unlock(self) -> None:
        if self.redis.get(self.lock_key) == self.token:
            self.redis.delete(self.lock_key)

    def add(
        self, round_id: str, job: str, chunks: list[tuple[str, int, int]], expected_s: float
    ) -> None:
        """Remember a round; lost if not answered ``expected_s`` × 3 + 2 visibility timeouts from now."""
        entry = {
            "job": job,
            "chunks": [list(c) for c in chunks],
            "deadline": self.deadline(expected_s),
        }
        self.redis.hset(self.key, round_id, json.dumps(entry))
        self.redis.expire(self.key, self.cfg.batch_result_ttl_s)

    def occupy(self, host: str, chunk_id: str, until: float) -> None:
        """``host`` works on ``chunk_id`` until it ends, or at the latest until ``until``."""
        self.redis.hset(self.busy_key, host, json.dumps({"chunk": chunk_id, "until": until}))
        self.redis.expire(self.busy_key, self.cfg.batch_result_ttl_s)

    def free(self, host: str, chunk_id: str) -> None:
        """``host`` is done with ``chunk_id`` (a newer chunk of the host stays)."""
        raw = self.redis.hget(self.busy_key, host)
        if raw is not None and json.loads(raw).get("chunk") == chunk_id:
            self.redis.hdel(self.busy_key, host)

    def busy_hosts(self, now: float | None = None) -> set[str]:
        """Hosts with a chunk in flight (an entry past its deadline no longer counts)."""
        now = time.time() if now is None else now
        raw = self.redis.hgetall(self.busy_key)
        return {h for h, v in raw.items() if float(json.loads(v).get("until", 0)) > now}

    def deadline(self, expected_s: float) -> float:
        """When a round (or chunk) expected to take ``expected_s`` counts as lost."""
        return time.time() + 3 * expected_s + 2 * self.cfg.visibility_timeout_s + DEADLINE_SLACK_S

    def finish(self, round_id: str) -> None:
        self.redis.hdel(self.key, round_id)

    def count(self) -> int:
        return int(self.redis.hlen(self.key))

    def all(self) -> dict[str, dict[str, Any]]:
        raw = self.redis.hgetall(self.key)
        return {k: json.loads(v) for k, v in raw.items()}

    def sweep(self, store: BatchStore, now: float | None = None) -> int:
        """End rounds that are answered, cancelled or lost; returns how many ended."""
        now = time.time() if now is None else now
        ended = 0
        for rid, entry in self.all().items():
            job = entry["job"]
            try:
                state = store.job(job)["state"]
            except BatchNotFound:
                state = "gone"
            missing = (
                [c for c in entry["chunks"] if _unanswered(store, job, c)]
                if state in ACTIVE
                else []
            )
            if not missing:
                self.finish(rid)
                ended += 1
            elif now > entry["deadline"]:
                for _, start, end in missing:
                    store.redo(job, start, end)
                self.finish(rid)
                ended += 1
        return ended

    def repair(self, store: BatchStore) -> int:
        """Schedule again the unanswered docs of jobs that have nothing left to run: every doc
        claimed, no round in flight, nothing to redo (their round record went with a Redis
        crash). Returns the ranges rescheduled."""
        busy = {entry["job"] for entry in self.all().values()}
        ranges = 0
        for job in store.job_ids():
            h = store.job(job)
            if h["state"] != "running" or job in busy or _schedulable(store, job, h):
                continue
            total = int(h["total"])
            for start in range(0, total, REPAIR_SPAN):
                end = min(total, start + REPAIR_SPAN)
                if len(store.answered(job, start, end)) < end - start:
                    store.redo(job, start, end)
                    ranges += 1
        return ranges

    def runnable(self, store: BatchStore, now: float | None = None) -> list[str]:
        """Jobs with docs to schedule, highest priority first, then oldest first. A job with
        fewer unscheduled docs than ``autobatch_min_batch_size`` waits until it is
        ``autobatch_interval_s`` old (more docs may come in other jobs meanwhile)."""
        now = time.time() if now is None else now
        out = []
        for job in store.job_ids():
            try:
                h = store.job(job)
            except BatchNotFound:
                continue
            if h["state"] in ("queued", "running") and self._due(store, job, h, now):
                out.append((-int(h["priority"]), float(h["created_at"]), job))
        return [job for _, _, job in sorted(out)]

    def _due(self, store: BatchStore, job: str, h: dict[str, str], now: float) -> bool:
        if store.redis.llen(store.k("redo", job)):
            return True
        waiting = int(h["total"]) - int(h.get("cursor") or 0)
        if waiting <= 0:
            return False
        old = now - float(h["created_at"]) >= self.cfg.autobatch_interval_s
        return old or waiting >= self.cfg.autobatch_min_batch_size


def _unanswered(store: BatchStore, job: str, chunk: list[Any]) -> bool:
    _, start, end = chunk
    return len(store.answered(job, int(start), int(end))) < int(end) - int(start)


def _schedulable(store: BatchStore, job: str, h: dict[str, str]) -> bool:
    if int(h.get("cursor") or 0) < int(h["total"]):
        return True
    return bool(store.redis.llen(store.k("redo", job)))
