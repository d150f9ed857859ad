"""The gateway's direct publisher writes exactly the message Celery's send_task would (protocol 2
in kombu's Redis envelope), and a Celery worker consumes it like any other."""

from __future__ import annotations

import base64
import json

import pytest

from sollol.api.publish import TaskPublisher
from sollol.config import load_config
from sollol.state.queues import kombu_priority, priority_list_keys

pytestmark = pytest.mark.integration
VOLATILE_HEADERS = {"expires", "origin", "sollol_t"}
VOLATILE_PROPERTIES = {"delivery_tag", "reply_to"}


def _published_by_celery(redis_server, redis_client, priority: int) -> dict:
    from sollol.workers.celery_app import make_celery

    app = make_celery(load_config(env={}, redis_url=redis_server.url))
    app.send_task(
        "sollol.infer",
        args=["rid", {"a": [1], "b": "x"}],
        queue="host-a",
        routing_key="host-a",
        priority=kombu_priority(priority),
        expires=600,
        ignore_result=True,
        task_id="rid-1",
        headers={"sollol_t": 1.5},
        argsrepr="['rid', <chat m>]",
        kwargsrepr="{}",
    )
    return json.loads(redis_client.rpop(priority_list_keys("host-a")[priority - 1]))


@pytest.mark.parametrize("priority", [1, 5, 10])
def test_direct_message_matches_send_task(redis_server, redis_client, priority):
    celery_msg = _published_by_celery(redis_server, redis_client, priority)
    TaskPublisher(redis_client, "sollol.infer").publish(
        "rid-1",
        ["rid", {"a": [1], "b": "x"}],
        "host-a",
        kombu_priority(priority),
        600,
        {"sollol_t": 1.5},
        "['rid', <chat m>]",
    )
    ours = json.loads(redis_client.rpop(priority_list_keys("host-a")[priority - 1]))
    assert set(ours) == set(celery_msg)
    for key in ("content-encoding", "content-type"):
        assert ours[key] == celery_msg[key]
    assert json.loads(base64.b64decode(ours["body"])) == json.loads(
        base64.b64decode(celery_msg["body"])
    )
    strip = lambda d, volatile: {k: v for k, v in d.items() if k not in volatile}  # noqa: E731
    assert strip(ours["headers"], VOLATILE_HEADERS) == strip(
        celery_msg["headers"], VOLATILE_HEADERS
    )
    assert strip(ours["properties"], VOLATILE_PROPERTIES) == strip(
        celery_msg["properties"], VOLATILE_PROPERTIES
    )
    assert set(ours["headers"]) == set(celery_msg["headers"])
    assert ours["headers"]["expires"][:16] == celery_msg["headers"]["expires"][:16]
