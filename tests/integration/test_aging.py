"""Fairness: waiting messages climb one priority level per aging step, atomically, so batch work is
never starved by a steady stream of critical work."""

from __future__ import annotations

import json
import time

import pytest

from sollol.state.aging import age_queue, level_keys

pytestmark = pytest.mark.integration


def _msg(t: float, priority: int, label: str) -> str:
    # the shape kombu stores (json.dumps default separators), with SOLLOL's aging header
    return json.dumps(
        {
            "body": label,
            "headers": {"argsrepr": '"sollol_t": 1', "sollol_t": t},
            "properties": {"delivery_info": {"routing_key": "q"}, "priority": priority},
        }
    )


def test_overdue_messages_move_up_exactly_one_level(redis_client):
    keys = level_keys("q")
    now = 1_000_000.0
    redis_client.lpush(keys[9], _msg(now - 30, 9, "old-low"))  # waited 30 s at level 9
    redis_client.lpush(keys[9], _msg(now - 1, 9, "young-low"))  # waited 1 s
    redis_client.lpush(keys[5], _msg(now - 11, 5, "old-mid"))
    redis_client.lpush(keys[0], _msg(now, 0, "critical"))  # what would starve them
    moved = age_queue(redis_client, "q", now, step_s=10)
    assert moved == 2
    promoted = json.loads(redis_client.lindex(keys[8], 0))
    assert promoted["body"] == "old-low"
    assert promoted["properties"]["priority"] == 8  # a later redelivery keeps the promotion
    assert promoted["headers"]["sollol_t"] == now  # its clock restarts at the new level
    assert promoted["headers"]["argsrepr"] == '"sollol_t": 1'  # only the real header was edited
    assert json.loads(redis_client.lindex(keys[4], 0))["body"] == "old-mid"
    assert [json.loads(m)["body"] for m in redis_client.lrange(keys[9], 0, -1)] == ["young-low"]
    assert age_queue(redis_client, "q", now, step_s=10) == 0  # one level per step, not more


def test_a_priority_1_message_reaches_the_top_within_nine_steps(redis_client):
    keys = level_keys("q")
    t = 0.0
    redis_client.lpush(keys[0], _msg(t, 0, "critical"))  # critical work keeps the top busy
    redis_client.lpush(keys[9], _msg(t, 9, "batch"))
    for _ in range(9):
        t += 10.0
        age_queue(redis_client, "q", t, step_s=10)
    assert json.loads(redis_client.lindex(keys[0], 0))["body"] == "batch"


def test_a_backlog_with_nothing_above_it_does_not_age(redis_client):
    """Nothing can starve it, and promoting it would only put old requests of one priority in
    front of newer ones of the same priority (and of another API key's fair share)."""
    keys = level_keys("q")
    for i in range(5):
        redis_client.lpush(keys[5], _msg(0.0, 5, f"m{i}"))
    assert age_queue(redis_client, "q", 1000.0, step_s=10) == 0
    check = json.dumps({"body": "", "headers": {"task": "sollol.health_check", "sollol_t": 1000.0}})
    redis_client.lpush(keys[0], check)  # a waiting health check starves nobody
    assert age_queue(redis_client, "q", 1000.0, step_s=10) == 0
    redis_client.lpush(keys[2], _msg(1000.0, 2, "higher"))
    assert age_queue(redis_client, "q", 1000.0, step_s=10) == 5  # now it can be starved


def test_promoted_messages_queue_behind_those_already_waiting_at_the_new_level(redis_client):
    keys = level_keys("q")
    redis_client.lpush(keys[4], _msg(99.0, 4, "already-there"))
    redis_client.lpush(keys[5], _msg(0.0, 5, "promoted"))
    age_queue(redis_client, "q", 100.0, step_s=10)
    # BRPOP takes from the right: the one already waiting at level 4 is served first
    assert json.loads(redis_client.rpop(keys[4]))["body"] == "already-there"
    assert json.loads(redis_client.rpop(keys[4]))["body"] == "promoted"


def test_messages_without_the_aging_header_are_left_alone(redis_client):
    keys = level_keys("q")
    redis_client.lpush(keys[9], json.dumps({"body": "foreign", "headers": {}, "properties": {}}))
    assert age_queue(redis_client, "q", time.time(), step_s=0.0) == 0
