"""The architecture's floor for bench/floor.py: Flask on gunicorn (gevent), one Celery worker
(threads pool) and Redis carrying a request to an Ollama node and its answer back, with none of
SOLLOL's own work: no routing, no validation beyond a model name, no decision record, no
metrics, no retries, no learning.

What it keeps is what any gateway → Celery → worker → stream design must do per request:
parse the client's JSON, publish one Celery message (the same protocol-2 message SOLLOL builds,
LPUSHed in one command), let the Celery worker receive, run and ack it with the same settings
and transport as SOLLOL's workers, call the node over a kept-alive connection, write the answer
to a Redis stream (the first line of a streamed answer at once, the rest in one entry, and an
expiry), and read it back with blocking XREADs.

    gunicorn -k gevent _floor_app:app          # the floor's gateway
    celery -A _floor_app worker -Q floor -P threads   # the floor's worker
"""

from __future__ import annotations

import functools
import http.client
import json
import os
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import redis
from celery import Celery
from flask import Flask, Response, jsonify, request

from sollol.api.publish import TaskPublisher
from sollol.config import load_config
from sollol.state.queues import priority_list_keys
from sollol.workers.celery_app import celery_settings

QUEUE = "floor"
TASK = "floor.call"
NODE = os.environ.get("FLOOR_NODE_URL", "http://127.0.0.1:11434")
_cfg = load_config()

celery = Celery("floor", set_as_current=False)
celery.conf.update(celery_settings(_cfg))
_local = threading.local()


@functools.cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(_cfg.redis_url)


def _node() -> http.client.HTTPConnection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        parts = urlsplit(NODE)
        conn = _local.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    return conn


@celery.task(name=TASK, ignore_result=True)
def call(body: str, stream: bool, key: str) -> None:
    conn = _node()
    conn.request("POST", "/api/generate", body, {"Content-Type": "application/json"})
    resp = conn.getresponse()
    r = _redis()
    if not stream:
        pipe = r.pipeline(transaction=False)
        pipe.xadd(key, {"d": resp.read(), "end": 1})
        pipe.expire(key, 60)
        pipe.execute()
        return
    first = resp.readline()
    pipe = r.pipeline(transaction=False)
    pipe.xadd(key, {"d": first})
    pipe.expire(key, 60)
    pipe.execute()
    r.xadd(key, {"d": resp.read(), "end": 1})


app = Flask("floor")


@functools.cache
def _publisher() -> TaskPublisher:
    return TaskPublisher(_redis(), TASK)


def _publish(body: str, stream: bool, key: str) -> None:
    task_id = str(uuid.uuid4())
    message = _publisher().message(task_id, [body, stream, key], QUEUE, 5, 300.0, {}, "")
    _redis().lpush(priority_list_keys(QUEUE)[4], message)


def _entries(key: str) -> Iterator[bytes]:
    last = "0"
    while True:
        reply: Any = _redis().xread({key: last}, count=100, block=60_000)
        if not reply:
            raise TimeoutError(key)
        for entry_id, fields in reply[0][1]:
            last = entry_id
            yield fields[b"d"]
            if b"end" in fields:
                return


@app.post("/api/generate")
def generate() -> Any:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not payload.get("model"):
        return jsonify(error="model is required"), 400
    stream = payload.get("stream", True) is not False
    key = f"floor:{uuid.uuid4().hex}"
    _publish(json.dumps(payload), stream, key)
    if not stream:
        return Response(b"".join(_entries(key)), mimetype="application/json")
    return Response(_entries(key), mimetype="application/x-ndjson")
