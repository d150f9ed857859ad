"""Batch embedding jobs in Redis: docs stored in chunks, vectors written once per doc, progress.

Keys (under the ``sollol:`` prefix; every one expires ``batch_result_ttl_s`` after its last write):

    batch:jobs               ZSET  job id → creation time (epoch s)
    batch:job:<job>          HASH  model, state, total, done, failed, cursor, priority, options, …
    batch:docs:<job>:<n>     STR   JSON list of [id, text, metadata] for docs n*DOC_CHUNK…
    batch:res:<job>:<n>      HASH  doc index → JSON vector (the same chunking as the docs)
    batch:err:<job>          HASH  doc index → JSON {"id", "error"}
    batch:redo:<job>         LIST  "start-end" ranges to embed again (a lost round)
    batch:rate:<model>       HASH  host → learned docs/s (EWMA)

A doc's vector is written with HSETNX by a Lua script that also counts it, so a chunk that runs
twice (a retry, a redelivered message after a worker died) never counts or stores a vector twice.
States: loading (upload in progress) → queued → running → done | failed | cancelled.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sollol.config import SOLLOLConfig

__all__ = [
    "ACTIVE",
    "CHUNK_BUCKETS_S",
    "DOC_CHUNK",
    "BatchError",
    "BatchInputError",
    "BatchNotFound",
    "BatchQueueFull",
    "BatchStore",
    "BatchTooLarge",
    "Doc",
    "parse_doc",
]

DOC_CHUNK = 500  # docs per stored value: 20 000 docs are 40 values, never one huge one
ACTIVE = ("loading", "queued", "running")
ERRORS_SHOWN = 100  # per-doc errors listed in a job's status
CHUNK_BUCKETS_S = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class BatchError(Exception):
    """Base of batch job errors; the gateway maps each to an HTTP status (api/errors.py)."""


class BatchInputError(BatchError):
    """A doc or a request field is malformed."""


class BatchTooLarge(BatchError):
    """More docs or bytes than one job may hold."""


class BatchQueueFull(BatchError):
    """Too many unfinished jobs already."""


class BatchNotFound(BatchError):
    """No such job (never created, or expired)."""


@dataclass(frozen=True, slots=True)
class Doc:
    """One document of a job; ``id`` defaults to its position in the upload."""

    id: str
    text: str
    metadata: dict[str, Any] | None = None


def parse_doc(obj: Any, index: int) -> Doc:
    """A doc from ``"text"`` or ``{"id"?, "text", "metadata"?}``; raises BatchInputError."""
    if isinstance(obj, str):
        return Doc(str(index), obj)
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        raise BatchInputError(f'doc {index}: expected a string or {{"id", "text"}}')
    meta = obj.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise BatchInputError(f"doc {index}: metadata must be an object")
    raw_id = obj.get("id", index)
    if not isinstance(raw_id, str | int) or isinstance(raw_id, bool):
        raise BatchInputError(f"doc {index}: id must be a string or an integer")
    return Doc(str(raw_id), obj["text"], meta)


# KEYS: job, results hash, errors hash, docs counter; ARGV: ttl, now, then index/vector pairs
PUT_RESULTS_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
local new = 0
for i = 3, #ARGV, 2 do
  if redis.call('HEXISTS', KEYS[3], ARGV[i]) == 0 then
    new = new + redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
if new > 0 then
  redis.call('HINCRBY', KEYS[1], 'done', new)
  redis.call('INCRBY', KEYS[4], new)
end
local v = redis.call('HMGET', KEYS[1], 'done', 'failed', 'total')
if state == 'running' or state == 'queued' then
  if tonumber(v[1] or 0) + tonumber(v[2] or 0) >= tonumber(v[3] or 0) then
    local final = 'done'
    if tonumber(v[1] or 0) == 0 then final = 'failed' end
    redis.call('HSET', KEYS[1], 'state', final, 'finished_at', ARGV[2])
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return new
"""

# KEYS: job, errors hash, then one results hash per error; ARGV: ttl, now, index/error pairs
PUT_ERRORS_LUA = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return -1 end
local new = 0
for i = 3, #ARGV, 2 do
  local res = KEYS[2 + (i - 1) / 2]
  if redis.call('HEXISTS', res, ARGV[i]) == 0 then
    new = new + redis.call('HSETNX', KEYS[2], ARGV[i], ARGV[i + 1])
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[1])
if new > 0 then redis.call('HINCRBY', KEYS[1], 'failed', new) end
local v = redis.call('HMGET', KEYS[1], 'done', 'failed', 'total')
if state == 'running' or state == 'queued' then
  if tonumber(v[1] or 0) + tonumber(v[2] or 0) >= tonumber(v[3] or 0) then
    local final = 'done'
    if tonumber(v[1] or 0) == 0 then final = 'failed' end
    redis.call('HSET', KEYS[1], 'state', final, 'finished_at', ARGV[2])
  end
end
return new
"""

# KEYS: job; ARGV: docs wanted. Advances the job's cursor: returns {start, end} (end = start: none)
CLAIM_LUA = """
local v = redis.call('HMGET', KEYS[1], 'state', 'cursor', 'total')
if v[1] ~= 'queued' and v[1] ~= 'running' then return {0, 0} end
local cur, total = tonumber(v[2] or 0), tonumber(v[3] or 0)
local n = math.min(tonumber(ARGV[1]), total - cur)
if n <= 0 then return {cur, cur} end
redis.call('HSET', KEYS[1], 'cursor', cur + n)
if v[1] == 'queued' then redis.call('HSET', KEYS[1], 'state', 'running', 'started_at', ARGV[2]) end
return {cur, cur + n}
"""


@dataclass
class _Upload:
    """Docs of a job being written: flushed to Redis one DOC_CHUNK at a time."""

    job: str
    buffer: list[list[Any]] = field(default_factory=list)
    count: int = 0
    chunks: int = 0
    size: int = 0


class BatchStore:
    """Reads and writes batch jobs; safe to share between threads (one Redis client)."""

    def __init__(self, redis: Any, cfg: SOLLOLConfig) -> None:
        self.redis = redis
        self.cfg = cfg
        self.ttl = int(cfg.batch_result_ttl_s)
        self._put = redis.register_script(PUT_RESULTS_LUA)
        self._err = redis.register_script(PUT_ERRORS_LUA)
        self._claim = redis.register_script(CLAIM_LUA)

    # --- keys ---------------------------------------------------------------------------------
    def k(self, *parts: object) -> str:
        return self.cfg.key("batch", *parts)

    # --- creating a job -----------------------------------------------------------------------
    def create(
        self,
        docs: Iterable[Doc],
        model: str,
        priority: int,
        options: dict[str, Any] | None = None,
        dimensions: int | None = None,
    ) -> dict[str, Any]:
        """Store ``docs`` (consumed as a stream) as a new queued job; returns its status.

        Raises BatchQueueFull before reading anything, BatchTooLarge (and deletes what was
        written) when the docs exceed ``batch_max_docs``, BatchInputError for an empty job."""
        if self.active_jobs() >= self.cfg.batch_max_jobs_queued:
            raise BatchQueueFull(
                f"{self.cfg.batch_max_jobs_queued} batch jobs are unfinished already; "
                "retry when one is done"
            )
        now = time.time()
        up = _Upload(uuid.uuid4().hex[:16])
        self.redis.hset(
            self.k("job", up.job),
            mapping={
                "model": model,
                "state": "loading",
                "total": 0,
                "done": 0,
                "failed": 0,
                "cursor": 0,
                "priority": priority,
                "options": json.dumps(options or {}),
                "dimensions": dimensions or 0,
                "created_at": now,
            },
        )
        self.redis.expire(self.k("job", up.job), self.ttl)
        self.redis.zadd(self.k("jobs"), {up.job: now})
        try:
            for doc in docs:
                self._add(up, doc)
            self._flush(up)
        except BaseException:
            self.delete(up.job, up.chunks)
            raise
        if up.count == 0:
            self.delete(up.job, 0)
            raise BatchInputError("docs is empty: give at least one document")
        self.redis.hset(self.k("job", up.job), mapping={"total": up.count, "state": "queued"})
        return self.status(up.job)

    def _add(self, up: _Upload, doc: Doc) -> None:
        if up.count >= self.cfg.batch_max_docs:
            raise BatchTooLarge(
                f"a batch job holds at most {self.cfg.batch_max_docs} docs; split the upload"
            )
        up.buffer.append([doc.id, doc.text, doc.metadata] if doc.metadata else [doc.id, doc.text])
        up.count += 1
        if len(up.buffer) == DOC_CHUNK:
            self._flush(up)

    def _flush(self, up: _Upload) -> None:
        if not up.buffer:
            return
        key = self.k("docs", up.job, up.chunks)
        self.redis.set(key, json.dumps(up.buffer, separators=(",", ":")), ex=self.ttl)
        up.chunks += 1
        up.buffer = []

    def delete(self, job: str, chunks: int | None = None) -> None:
        """Remove a job and everything stored for it (``chunks``: doc chunks written, if known)."""
        n = chunks if chunks is not None else -(-int(self._field(job, "total") or 0) // DOC_CHUNK)
        keys = [self.k("job", job), self.k("err", job), self.k("redo", job)]
        keys += [self.k("docs", job, i) for i in range(n + 1)]
        keys += [self.k("res", job, i) for i in range(n + 1)]
        self.redis.delete(*keys)
        self.redis.zrem(self.k("jobs"), job)

    # --- reading ------------------------------------------------------------------------------
    def _field(self, job: str, name: str) -> str | None:
        value: str | None = self.redis.hget(self.k("job", job), name)
        return value

    def job(self, job: str) -> dict[str, str]:
        """The job's hash, decoded; raises BatchNotFound."""
        raw = self.redis.hgetall(self.k("job", job))
        if not raw:
            raise BatchNotFound(f"batch job '{job}' not found (unknown or expired)")
        return dict(raw)

    def job_ids(self) -> list[str]:
        """Every stored job, oldest first (expired ones are forgotten on the way)."""
        ids = list(self.redis.zrange(self.k("jobs"), 0, -1))
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for j in ids:
            pipe.exists(self.k("job", j))
        alive = pipe.execute()
        gone = [j for j, a in zip(ids, alive, strict=True) if not a]
        if gone:
            self.redis.zrem(self.k("jobs"), *gone)
        return [j for j, a in zip(ids, alive, strict=True) if a]

    def active_jobs(self) -> int:
        return sum(1 for j in self.job_ids() if self._field(j, "state") in ACTIVE)

    def status(self, job: str, now: float | None = None) -> dict[str, Any]:
        """Progress of a job: state, done/total, docs/s, ETA in seconds, per-doc errors."""
        h = self.job(job)
        now = time.time() if now is None else now
        total, done, failed = int(h["total"]), int(h["done"]), int(h["failed"])
        started = float(h.get("started_at") or 0)
        end = float(h.get("finished_at") or 0) or now
        rate = done / (end - started) if started and end > started else 0.0
        left = total - done - failed
        eta = left / rate if rate > 0 and h["state"] in ACTIVE else None
        return {
            "job_id": job,
            "state": h["state"],
            "model": h["model"],
            "priority": int(h["priority"]),
            "total": total,
            "done": done,
            "failed": failed,
            "docs_per_s": round(rate, 2),
            "eta_s": round(eta, 1) if eta is not None else None,
            "created_at": float(h["created_at"]),
            "started_at": started or None,
            "finished_at": float(h["finished_at"]) if h.get("finished_at") else None,
            "errors": self.errors(job),
        }

    def errors(self, job: str, limit: int = ERRORS_SHOWN) -> list[dict[str, Any]]:
        """Per-doc errors, in input order, at most ``limit``."""
        raw = self.redis.hgetall(self.k("err", job))
        items = sorted((int(k), json.loads(v)) for k, v in raw.items())
        return [{"index": i, **e} for i, e in items[:limit]]

    def docs(self, job: str, start: int, end: int) -> list[list[Any]]:
        """Docs ``start`` ≤ index < ``end`` as [id, text, metadata?] lists."""
        first, last = start // DOC_CHUNK, (end - 1) // DOC_CHUNK
        raws = self.redis.mget([self.k("docs", job, n) for n in range(first, last + 1)])
        out: list[list[Any]] = []
        for n, raw in zip(range(first, last + 1), raws, strict=True):
            chunk = json.loads(raw) if raw else []
            lo, hi = max(start - n * DOC_CHUNK, 0), min(end - n * DOC_CHUNK, len(chunk))
            out.extend(chunk[lo:hi])
        return out

    def answered(self, job: str, start: int, end: int) -> set[int]:
        """Indices in [start, end) that already have a vector or a final error."""
        pipe = self.redis.pipeline(transaction=False)
        idx = list(range(start, end))
        for i in idx:
            pipe.hexists(self.k("res", job, i // DOC_CHUNK), i)
        pipe.hmget(self.k("err", job), idx)
        flags = pipe.execute()
        errs = flags[-1]
        return {i for i, has, err in zip(idx, flags[:-1], errs, strict=True) if has or err}

    def results(self, job: str, offset: int = 0, limit: int = 1000) -> Iterator[str]:
        """NDJSON lines ``{"id", "embedding"}`` (or ``{"id", "error"}``) in input order; docs
        not answered yet are left out."""
        total = int(self.job(job)["total"])
        end = min(total, offset + max(0, limit))
        lo = offset
        while lo < end:
            hi = min(end, (lo // DOC_CHUNK + 1) * DOC_CHUNK)  # never across a stored chunk
            docs = self.docs(job, lo, hi)
            idx = list(range(lo, hi))
            vecs = self.redis.hmget(self.k("res", job, lo // DOC_CHUNK), idx)
            errs = self.redis.hmget(self.k("err", job), idx)
            for doc, vec, err in zip(docs, vecs, errs, strict=False):
                if vec is not None or err is not None:
                    yield _result_line(doc, vec, err)
            lo = hi

    # --- workers and beat ---------------------------------------------------------------------
    def put_results(self, job: str, vectors: list[tuple[int, str]]) -> int:
        """Store JSON vectors by doc index, each at most once; returns how many were new."""
        new = 0
        by_chunk: dict[int, list[str]] = {}
        for i, vec in vectors:
            by_chunk.setdefault(i // DOC_CHUNK, []).extend((str(i), vec))
        for n, pairs in by_chunk.items():
            keys = [self.k("job", job), self.k("res", job, n), self.k("err", job), self.k("docs")]
            new += max(0, int(self._put(keys=keys, args=[self.ttl, time.time(), *pairs])))
        return new

    def put_errors(self, job: str, errors: list[tuple[int, str, str]]) -> int:
        """Record final per-doc errors (index, id, message); a doc with a vector keeps it."""
        if not errors:
            return 0
        keys = [self.k("job", job), self.k("err", job)]
        keys += [self.k("res", job, i // DOC_CHUNK) for i, _, _ in errors]
        args: list[Any] = [self.ttl, time.time()]
        for i, doc_id, msg in errors:
            args += [str(i), json.dumps({"id": doc_id, "error": msg})]
        return max(0, int(self._err(keys=keys, args=args)))

    def claim(self, job: str, n: int) -> tuple[int, int]:
        """Take the next ``n`` unscheduled docs of ``job``: a range [start, end), maybe empty."""
        redo = self.redis.lpop(self.k("redo", job))
        if redo:
            start, end = (int(x) for x in redo.split("-"))
            return start, end
        start, end = self._claim(keys=[self.k("job", job)], args=[n, time.time()])
        return int(start), int(end)

    def redo(self, job: str, start: int, end: int) -> None:
        """Schedule a range again (its round was lost); answered docs are skipped when it runs."""
        self.redis.rpush(self.k("redo", job), f"{start}-{end}")
        self.redis.expire(self.k("redo", job), self.ttl)

    def cancel(self, job: str) -> dict[str, Any]:
        """Stop an unfinished job: no more chunks start; what is done stays readable."""
        if self._field(job, "state") in ACTIVE:
            self.redis.hset(
                self.k("job", job), mapping={"state": "cancelled", "finished_at": time.time()}
            )
        return self.status(job)

    def observe_chunk(self, seconds: float) -> None:
        """Count one chunk's duration in the shared latency histogram (batch:chunk-latency)."""
        bucket = next((b for b in CHUNK_BUCKETS_S if seconds <= b), "inf")
        key = self.k("chunk-latency")
        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(key, str(bucket), 1)
        pipe.hincrbyfloat(key, "sum", seconds)
        pipe.expire(key, 7 * 86_400)
        pipe.execute()

    def chunk_latency(self) -> tuple[dict[str, int], float]:
        """Chunk counts per upper bound (seconds, non-cumulative) and their summed seconds."""
        raw = dict(self.redis.hgetall(self.k("chunk-latency")))
        total = float(raw.pop("sum", 0) or 0)
        return {k: int(v) for k, v in raw.items()}, total

    def docs_total(self) -> int:
        """Vectors ever stored (the sollol_batch_docs_total counter)."""
        return int(self.redis.get(self.k("docs")) or 0)

    # --- learned rates ------------------------------------------------------------------------
    def rates(self, model: str) -> dict[str, float]:
        """Learned docs/s per host for ``model``."""
        raw = self.redis.hgetall(self.k("rate", model))
        return {h: float(v) for h, v in raw.items()}

    def record_rate(self, model: str, host: str, docs_per_s: float) -> float:
        """Fold one chunk's docs/s into the host's EWMA; returns the new estimate."""
        old = self.redis.hget(self.k("rate", model), host)
        alpha = 0.3
        new = docs_per_s if old is None else (1 - alpha) * float(old) + alpha * docs_per_s
        self.redis.hset(self.k("rate", model), host, new)
        self.redis.expire(self.k("rate", model), 7 * 86_400)
        return new


def _result_line(doc: list[Any], vec: Any, err: Any) -> str:
    head = '{"id":' + json.dumps(doc[0])
    meta = ',"metadata":' + json.dumps(doc[2]) if len(doc) > 2 and doc[2] else ""
    if vec is not None:
        return head + ',"embedding":' + str(vec) + meta + "}"
    if err is not None:
        return head + ',"error":' + json.dumps(json.loads(err)["error"]) + meta + "}"
    raise ValueError("a doc without vector or error has no result line")
