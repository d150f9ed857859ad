"""Batch embedding jobs over HTTP: submit a collection, watch it, read vectors back, cancel.

    POST   /api/embed/batch                  {"model"?, "docs": [str | {"id","text","metadata"?}],
                                             "priority"?, "options"?, "dimensions"?} → 202
                                             {"job_id", "docs", "status_url", "results_url"};
                                             or NDJSON (application/x-ndjson), one doc a line,
                                             read as a stream; model/priority/dimensions as ?query
    GET    /api/batch-status                 every job and the autobatch queue
    GET    /api/batch-status/<job>           state, done/total, docs/s, ETA, per-doc errors
    GET    /api/embed/batch/<job>/results    NDJSON {"id","embedding"} in input order
                                             (?offset=&limit=; unanswered docs are left out)
    DELETE /api/embed/batch/<job>            cancel

Without a model the job uses ``default_embed_model``, so the original SOLLOL's
``{"docs": ["Document 1", "Document 2"]}`` works as it is.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from sollol.api.errors import (
    BadRequest,
    BatchJobNotFound,
    GatewayError,
    PayloadTooLarge,
    TooManyJobs,
)
from sollol.api.requests_in import PRIORITY_HEADER
from sollol.api.responses import json_response
from sollol.api.services import services
from sollol.state.batch import (
    BatchError,
    BatchInputError,
    BatchNotFound,
    BatchQueueFull,
    BatchStore,
    BatchTooLarge,
    Doc,
    parse_doc,
)
from sollol.state.queues import kombu_priority
from sollol.workers.batch_rounds import Rounds

__all__ = ["bp", "gateway_error"]

bp = Blueprint("batch", __name__)
NDJSON = "application/x-ndjson"
PAGE_MAX = 10_000  # results per page at most


def gateway_error(exc: BatchError) -> GatewayError:
    """The gateway error (and so the HTTP answer, api/errors.py) of a batch job error."""
    kinds: list[tuple[type[BatchError], type[GatewayError]]] = [
        (BatchTooLarge, PayloadTooLarge),
        (BatchQueueFull, TooManyJobs),
        (BatchNotFound, BatchJobNotFound),
        (BatchInputError, BadRequest),
    ]
    cls = next((g for b, g in kinds if isinstance(exc, b)), BadRequest)
    return cls(str(exc))


def _store() -> BatchStore:
    svc = services()
    return BatchStore(svc.redis, svc.cfg)


@bp.errorhandler(BatchError)
def _batch_error(exc: BatchError) -> Any:
    """Rendered by the app's one GatewayError handler (api/errors.py)."""
    return current_app.handle_user_exception(gateway_error(exc))


@bp.post("/api/embed/batch")
def submit() -> Response:
    cfg = services().cfg
    try:
        if (request.mimetype or "") == NDJSON:
            request.max_content_length = cfg.batch_max_bytes
            params: dict[str, Any] = dict(request.args)
            docs: Iterator[Doc] = _ndjson_docs()
        else:
            params = _json_params(cfg.max_body_bytes)
            docs = _json_docs(params.get("docs"))
        status = _store().create(
            docs,
            model=str(params.get("model") or cfg.default_embed_model),
            priority=_priority(params.get("priority"), cfg.batch_priority),
            options=_options(params.get("options")),
            dimensions=_int(params.get("dimensions"), "dimensions"),
        )
    except RequestEntityTooLarge:
        raise PayloadTooLarge(
            f"batch upload larger than {cfg.batch_max_bytes} bytes; split the collection "
            "into several jobs"
        ) from None
    _kick()
    job = status["job_id"]
    body = {
        "job_id": job,
        "docs": status["total"],
        "status_url": f"/api/batch-status/{job}",
        "results_url": f"/api/embed/batch/{job}/results",
    }
    return json_response(body, status=202)


def _json_params(limit: int) -> dict[str, Any]:
    if request.content_length and request.content_length > limit:
        raise PayloadTooLarge(
            f"JSON batch uploads are limited to {limit} bytes; send larger collections as "
            f"NDJSON (Content-Type: {NDJSON}, one doc per line)"
        )
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON in request body: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest('expected a JSON object {"docs": [...]}')
    return body


def _json_docs(docs: Any) -> Iterator[Doc]:
    if not isinstance(docs, list):
        raise BadRequest('docs is required: a list of strings or {"id", "text"} objects')
    return (parse_doc(d, i) for i, d in enumerate(docs))


def _ndjson_docs() -> Iterator[Doc]:
    """Docs from the request body, one JSON value a line, read as the upload arrives."""
    index = 0
    for raw in request.stream:
        line = raw.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            raise BatchInputError(f"line {index + 1} is not JSON") from None
        yield parse_doc(obj, index)
        index += 1


def _priority(raw: Any, default: int) -> int:
    raw = raw if raw is not None else request.headers.get(PRIORITY_HEADER)
    if raw is None or raw == "":
        return default
    value = _int(raw, "priority")
    if value is None or not 1 <= value <= 10:
        raise BadRequest(f"invalid priority {raw!r}: use an integer from 1 to 10")
    return value


def _int(raw: Any, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be an integer, got {raw!r}") from None


def _options(raw: Any) -> dict[str, Any] | None:
    if raw is None or isinstance(raw, dict):
        return raw
    raise BadRequest("options must be an object")


def _kick() -> None:
    """A job arrived: when no round is running, start one now rather than at the next tick."""
    svc = services()
    try:
        if Rounds(svc.redis, svc.cfg).count():
            return
        from sollol.workers.batch import TICK
        from sollol.workers.celery_app import CONTROL_QUEUE

        svc.celery.send_task(
            TICK,
            queue=CONTROL_QUEUE,
            routing_key=CONTROL_QUEUE,
            priority=kombu_priority(10),
            expires=60,
            ignore_result=True,
        )
    except Exception:  # the beat tick starts it anyway within autobatch_interval_s
        return


@bp.get("/api/batch-status")
def all_status() -> Response:
    svc = services()
    store = _store()
    jobs = [store.status(j) for j in store.job_ids()]
    rounds = Rounds(svc.redis, svc.cfg).all()
    hosts: dict[str, list[str]] = {}
    for entry in rounds.values():
        hosts.setdefault(entry["job"], []).extend(c[0] for c in entry["chunks"])
    for job in jobs:
        job["hosts"] = sorted(set(hosts.get(job["job_id"], [])))
        job.pop("errors", None)
    queued = sum(
        j["total"] - j["done"] - j["failed"] for j in jobs if j["state"] in ("queued", "running")
    )
    body = {
        "autobatch": {
            "enabled": svc.cfg.autobatch_enabled,
            "interval_s": svc.cfg.autobatch_interval_s,
            "min_batch_size": svc.cfg.autobatch_min_batch_size,
            "max_batch_size": svc.cfg.autobatch_max_batch_size,
            "docs_waiting": queued,
            "rounds_in_flight": [
                {
                    "round": r,
                    "job": e["job"],
                    "chunks": [{"host": c[0], "docs": c[2] - c[1]} for c in e["chunks"]],
                }
                for r, e in rounds.items()
            ],
        },
        "docs_embedded_total": store.docs_total(),
        "jobs": jobs,
    }
    return json_response(body)


@bp.get("/api/batch-status/<job>")
def job_status(job: str) -> Response:
    return json_response(_store().status(job))


@bp.get("/api/embed/batch/<job>/results")
def results(job: str) -> Response:
    store = _store()
    store.job(job)  # 404 before the stream starts
    offset = max(0, _int(request.args.get("offset"), "offset") or 0)
    limit = min(PAGE_MAX, _int(request.args.get("limit"), "limit") or PAGE_MAX)
    lines = (line + "\n" for line in store.results(job, offset, limit))
    return Response(lines, content_type=NDJSON)


@bp.delete("/api/embed/batch/<job>")
def cancel(job: str) -> Response:
    return json_response(_store().cancel(job))
