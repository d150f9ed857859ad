"""One request on one worker, without Celery in the way: run_job against a simulated node and a
real Redis. What the stream carries, and what the worker does after loads, 404s and duplicates."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from sollol.config import load_config
from sollol.embedded_redis import free_port
from sollol.sim import SimFleet
from sollol.sim.profile import parse_profile
from sollol.state import StreamReader
from sollol.workers.context import WorkerContext
from sollol.workers.runner import run_job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node():
    profile = parse_profile(
        {
            "time_scale": 0.02,
            "nodes": [
                {
                    "name": "n",
                    "port": free_port(),
                    "models": {"llama3.2": {"load_s": 1.0}, "qwen:7b": {"load_s": 2.0}},
                    "loaded": ["llama3.2"],
                }
            ],
        }
    )
    with SimFleet(profile) as fleet:
        yield fleet.urls["n"]


@pytest.fixture
def ctx(node, redis_server, redis_client):
    cfg = load_config(env={}, redis_url=redis_server.url, ollama_url=node)
    context = WorkerContext.create(cfg)
    context.host = "n"
    context.loaded_models = {"llama3.2:latest"}
    yield context
    context.close()


def _job(model: str, **extra) -> dict:
    return {
        "endpoint": "generate",
        "host": "n",
        "attempt": 1,
        "model": model,
        "task_type": "generation",
        "stream": True,
        "body": {"model": model, "prompt": "x", "options": {"num_predict": 4}},
        **extra,
    }


def _events(ctx, rid):
    return StreamReader(ctx.redis, ctx.cfg.key("stream", rid)).read(block_ms=100)


def test_a_streamed_answer_is_start_chunks_final(ctx):
    rid = uuid.uuid4().hex
    assert run_job(ctx, rid, _job("llama3.2:latest")) == "ok"
    events = _events(ctx, rid)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "final" and set(kinds[1:-1]) == {"chunk"}
    # chunk entries carry the 4 token lines (coalesced), the first one alone: never held back
    lines = [line for e in events if e.kind == "chunk" for line in e.data.split(b"\n")]
    assert len(lines) == 4 and all(json.loads(line)["done"] is False for line in lines)
    assert events[1].data.count(b"\n") == 0
    assert not ctx.redis.zcard(ctx.cfg.key("running", "n"))  # the lease went with the final entry


def test_a_cold_load_asks_the_heartbeat_to_look_again(ctx):
    ctx.refresh.clear()
    assert run_job(ctx, uuid.uuid4().hex, _job("qwen:7b")) == "ok"
    assert ctx.refresh.is_set()  # /api/ps changed: the router must learn it soon


def test_a_missing_model_is_reported_as_a_routing_fact(ctx):
    ctx.refresh.clear()
    rid = uuid.uuid4().hex
    assert run_job(ctx, rid, _job("ghost:latest")) == "model_missing"
    error = _events(ctx, rid)[-1]
    assert error.kind == "error" and error.json()["status"] == 404
    assert error.json()["reason"] == "model_missing" and error.json()["retryable"]
    assert ctx.refresh.is_set()


def test_a_redelivered_finished_attempt_does_not_run_again(ctx):
    rid = uuid.uuid4().hex
    assert run_job(ctx, rid, _job("llama3.2:latest")) == "ok"
    assert run_job(ctx, rid, _job("llama3.2:latest")) == "duplicate"
    assert [e.kind for e in _events(ctx, rid)].count("final") == 1


def test_a_superseded_or_cancelled_attempt_does_not_start(ctx):
    rid = uuid.uuid4().hex
    ctx.redis.set(ctx.cfg.key("attempt", rid), 2)
    assert run_job(ctx, rid, _job("llama3.2:latest")) == "superseded"
    rid = uuid.uuid4().hex
    ctx.redis.set(ctx.cfg.key("cancel", rid), 1)
    assert run_job(ctx, rid, _job("llama3.2:latest")) == "cancelled"
    assert _events(ctx, rid) == []


def test_a_joined_answer_for_a_client_that_does_not_stream(ctx):
    rid = uuid.uuid4().hex
    assert run_job(ctx, rid, _job("llama3.2:latest", stream=False)) == "ok"
    events = _events(ctx, rid)
    assert [e.kind for e in events] == ["start", "final"]
    final = events[-1].json()
    assert final["done"] and final["eval_count"] == 4 and len(final["response"].split()) >= 1


def test_learned_rates_reach_redis_off_the_request_path(ctx):
    for _ in range(3):
        run_job(ctx, uuid.uuid4().hex, _job("llama3.2:latest"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not ctx.redis.hget(
        ctx.cfg.key("stats", "n"), "llama3.2:latest"
    ):
        time.sleep(0.05)
    assert ctx.redis.hget(ctx.cfg.key("stats", "n"), "llama3.2:latest")
