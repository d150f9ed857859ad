"""One embed chunk on a host's worker: the docs without a vector yet, one /api/embed call.

Plain Python over a WorkerContext (as runner.run_job is), so tests can drive it against a
simulated node. Vectors are stored by doc index with BatchStore.put_results, at most once each.
A request Ollama rejects as the client's fault (400: e.g. an input it cannot take) is split into
one call per doc, so only the bad docs get an error; host failures raise ChunkFailed and the task
retries the chunk elsewhere.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from sollol.state.batch import BatchNotFound, BatchStore
from sollol.workers.context import WorkerContext
from sollol.workers.errors import OllamaError

__all__ = ["ChunkFailed", "run_chunk"]

_last_end: dict[tuple[str, str], float] = {}  # (host, model) → when its last chunk ended
_lock = threading.Lock()


class ChunkFailed(Exception):
    """The chunk could not be embedded on this host; ``doc_errors`` if it is given up."""

    def __init__(self, message: str, doc_errors: list[tuple[int, str, str]]) -> None:
        super().__init__(message)
        self.doc_errors = doc_errors


def run_chunk(
    ctx: WorkerContext, store: BatchStore, chunk_id: str, spec: dict[str, Any], host: str
) -> dict[str, Any]:
    """Embed what is left of the chunk; returns {"host", "docs", "new", "seconds"}."""
    job, start, end = str(spec["job"]), int(spec["start"]), int(spec["end"])
    try:
        if store.job(job)["state"] not in ("queued", "running"):
            return {"host": host, "docs": 0, "new": 0, "skipped": "job not active"}
    except BatchNotFound:
        return {"host": host, "docs": 0, "new": 0, "skipped": "job gone"}
    answered = store.answered(job, start, end)
    todo = [
        (i, doc) for i, doc in enumerate(store.docs(job, start, end), start) if i not in answered
    ]
    if not todo:
        return {"host": host, "docs": 0, "new": 0}
    began = time.monotonic()
    vectors, errors = _embed(ctx, spec, chunk_id, todo)
    new = store.put_results(job, vectors)
    store.put_errors(job, errors)
    seconds = time.monotonic() - began
    _learn(store, spec["model"], host, len(todo), began)
    store.observe_chunk(seconds)
    return {"host": host, "docs": len(todo), "new": new, "seconds": round(seconds, 3)}


def _embed(
    ctx: WorkerContext, spec: dict[str, Any], chunk_id: str, todo: list[tuple[int, list[Any]]]
) -> tuple[list[tuple[int, str]], list[tuple[int, str, str]]]:
    """Vectors (index, JSON) of ``todo``, and per-doc errors when Ollama rejects single docs."""
    try:
        got = _call(ctx, spec, chunk_id, [doc[1] for _, doc in todo])
        return [(i, v) for (i, _), v in zip(todo, got, strict=True)], []
    except OllamaError as exc:
        if exc.retryable:
            raise ChunkFailed(exc.message, _all_failed(todo, exc.message)) from exc
        if len(todo) == 1:
            i, doc = todo[0]
            return [], [(i, str(doc[0]), exc.message)]
    vectors: list[tuple[int, str]] = []
    errors: list[tuple[int, str, str]] = []
    for item in todo:  # isolate the docs Ollama refuses
        v, e = _embed(ctx, spec, f"{chunk_id}-{item[0]}", [item])
        vectors += v
        errors += e
    return vectors, errors


def _call(ctx: WorkerContext, spec: dict[str, Any], chunk_id: str, texts: list[str]) -> list[str]:
    body: dict[str, Any] = {"model": spec["model"], "input": texts, "truncate": True}
    options = json.loads(spec.get("options") or "{}")
    if options:
        body["options"] = options
    if spec.get("dimensions"):
        body["dimensions"] = int(spec["dimensions"])
    up = ctx.ollama.start("embed", body, chunk_id)
    ctx.ollama.wait(up)
    vectors = split_embeddings(ctx.ollama.body(up))
    if len(vectors) != len(texts):
        raise OllamaError(f"Ollama returned {len(vectors)} embeddings for {len(texts)} inputs")
    return vectors


def split_embeddings(raw: bytes) -> list[str]:
    """The vectors of an /api/embed answer as JSON texts, exactly as Ollama wrote them.

    Cutting the array's text at ``],[`` (numbers contain no brackets) costs a fraction of
    parsing and re-printing every float, and holds the worker's GIL far shorter, which the
    interactive requests relayed by the same process notice. Anything unexpected is parsed."""
    text = raw.decode()
    head = text.find('"embeddings":[[')
    if head < 0:
        data = json.loads(text)
        return [json.dumps(v, separators=(",", ":")) for v in data.get("embeddings") or []]
    start = head + len('"embeddings":[')
    end = text.find("]]", start)
    if end < 0 or "{" in text[start:end] or '"' in text[start:end]:
        data = json.loads(text)
        return [json.dumps(v, separators=(",", ":")) for v in data.get("embeddings") or []]
    body = text[start + 1 : end]  # between the outer brackets, without the first "[" and last "]"
    return ["[" + part + "]" for part in body.replace(" ", "").split("],[")]


def _all_failed(todo: list[tuple[int, list[Any]]], message: str) -> list[tuple[int, str, str]]:
    return [(i, str(doc[0]), message) for i, doc in todo]


def _learn(store: BatchStore, model: str, host: str, docs: int, began: float) -> None:
    """docs/s of this host, counting only time the host spent on this chunk: a chunk queued in
    Ollama behind the previous one starts being served when that one ends."""
    now = time.monotonic()
    with _lock:
        served_from = max(began, _last_end.get((host, model), 0.0))
        _last_end[(host, model)] = now
    if now - served_from > 1e-3:
        store.record_rate(model, host, docs / (now - served_from))
