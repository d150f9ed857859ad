"""Health checks never pile up in a host's queue: at most one waits, an expired one is replaced
(not joined) by the next, and the one waiting is never counted as queued user work.

Before this rule a host whose worker had stopped consuming collected a check every round
(3 → 7 → 11 messages in 40 s), which showed as queued requests. The fleet is fakeredis; ``send``
pushes the message kombu would push, onto the list kombu would use."""

from __future__ import annotations

import json
import time

import fakeredis
import pytest

from sollol.config import load_config
from sollol.state.health import check_expiry_s, publish_check, purge_checks, waiting_checks
from sollol.state.queues import priority_list_keys
from sollol.state.registry import HostRecord, write_heartbeat
from sollol.state.snapshot import read_fleet

HOST = "gpu-a"
TOP = priority_list_keys(HOST)[9]  # SOLLOL priority 10: where health checks travel


def _message(task: str) -> str:
    return json.dumps({"body": "", "headers": {"task": task, "id": str(time.monotonic_ns())}})


@pytest.fixture
def fleet():
    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = load_config(env={}, health_check_interval_s=5.0)
    record = HostRecord(name=HOST, url="http://127.0.0.1:1", worker="w", slots=2, ollama_ok=True)
    record.seen_at = time.time()
    write_heartbeat(redis, cfg, record)
    return redis, cfg


def _round(redis, cfg, now: float) -> bool:
    """One beat health round for the host, as workers/beat.py runs it."""
    check = redis.hgetall(cfg.key("health", HOST))
    return publish_check(
        redis,
        cfg,
        HOST,
        TOP,
        check,
        now,
        lambda _: redis.lpush(TOP, _message("sollol.health_check")),
    )


def test_a_host_that_stopped_consuming_holds_at_most_one_check(fleet):
    redis, cfg = fleet
    t0 = time.time()
    published = [_round(redis, cfg, t0 + s) for s in range(0, 41, 5)]  # 40 s of 5-s rounds
    assert redis.llen(TOP) == 1
    # one at start, then a replacement each time the waiting one expired (every 2 rounds)
    assert published == [True, False, True, False, True, False, True, False, True]


def test_the_waiting_check_is_not_queued_work_but_user_work_is(fleet):
    redis, cfg = fleet
    _round(redis, cfg, time.time())
    (view,) = read_fleet(redis, cfg)
    assert sum(view.queued) == 0
    redis.lpush(TOP, _message("sollol.infer"))  # a critical user request
    (view,) = read_fleet(redis, cfg)
    assert view.queued[9] == 1


def test_an_answered_check_lets_the_next_round_publish_and_restarts_the_clock(fleet):
    redis, cfg = fleet
    t0 = time.time()
    assert _round(redis, cfg, t0)
    redis.rpop(TOP)  # the worker took it
    redis.hset(cfg.key("health", HOST), mapping={"checked_at": t0 + 1, "ok": 1})
    assert waiting_checks(redis.hgetall(cfg.key("health", HOST))) == 0
    assert _round(redis, cfg, t0 + 5)
    assert float(redis.hget(cfg.key("health", HOST), "sent_at")) == t0 + 5


def test_an_unanswered_check_keeps_its_clock_so_the_host_is_found_down(fleet):
    redis, cfg = fleet
    t0 = time.time()
    _round(redis, cfg, t0)
    _round(redis, cfg, t0 + check_expiry_s(cfg))  # replaced, not answered
    assert float(redis.hget(cfg.key("health", HOST), "sent_at")) == t0


def test_purge_removes_only_health_checks(fleet):
    redis, _ = fleet
    for task in ("sollol.health_check", "sollol.infer", "sollol.health_check", "sollol.infer"):
        redis.lpush(TOP, _message(task))
    assert purge_checks(redis, TOP) == 2
    assert [json.loads(m)["headers"]["task"] for m in redis.lrange(TOP, 0, -1)] == [
        "sollol.infer",
        "sollol.infer",
    ]
