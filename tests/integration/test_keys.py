"""API keys on the live stack: two gateway processes (gunicorn workers, i.e. two replicas) share
each key's limits through Redis; tokens are charged what the node counted; a key's requests at
one priority are served fairly against another key's flood; a non-JSON message on a host queue
is refused by the worker, never executed."""

from __future__ import annotations

import base64
import json
import pickle
import threading
import uuid

import httpx
import pytest

from sollol.config import load_config
from sollol.state.queues import priority_list_keys
from tests.helpers import wait_for
from tests.integration.conftest import solo_profile
from tests.integration.keyed import generate, key_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(solo_profile(), auth="on", gateway_workers=2)


@pytest.fixture(scope="module")
def store(live):
    return key_store(live)


def test_no_key_gets_no_answer_and_no_look(live):
    for path in ("/api/tags", "/api/ps", "/api/fleet", "/v1/models", "/metrics", "/dashboard"):
        assert httpx.get(live.url + path, timeout=10).status_code == 401, path
    r = httpx.post(live.url + "/api/generate", json={"model": "llama3.2", "prompt": "x"})
    assert r.status_code == 401
    assert r.json() == {
        "error": "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')"
    }


def test_rpm_holds_across_two_gateway_processes(live, store):
    secret, _ = store.create(f"rpm-{uuid.uuid4().hex[:6]}", rpm=4)
    codes = []
    for _ in range(6):  # new connections: gunicorn hands them to either process
        with httpx.Client(timeout=60) as client:
            codes.append(
                client.post(
                    f"{live.url}/api/generate",
                    headers={"Authorization": f"Bearer {secret}"},
                    json={
                        "model": "llama3.2",
                        "prompt": "x",
                        "stream": False,
                        "options": {"num_predict": 2},
                    },
                ).status_code
            )
    # per process the limit would let 4 through each: 8 of 6
    assert codes.count(200) == 4 and codes.count(429) == 2, codes


def test_tokens_are_charged_what_the_node_counted(live, store):
    secret, _ = store.create(f"tpm-{uuid.uuid4().hex[:6]}", tpm=60)
    first = generate(live.url, secret, tokens=80)  # admitted on a full bucket, then charged > 60
    assert first.status_code == 200
    used = first.json()["eval_count"] + first.json()["prompt_eval_count"]
    assert used > 60
    second = generate(live.url, secret, tokens=1)
    assert second.status_code == 429
    assert "tokens per minute" in second.json()["error"]
    assert int(second.headers["Retry-After"]) >= 1


def test_max_priority_is_capped_and_reported(live, store):
    secret, _ = store.create(f"low-{uuid.uuid4().hex[:6]}", max_priority=3)
    r = generate(live.url, secret, priority=9)
    assert r.status_code == 200
    routing = r.json()["_sollol_routing"]
    assert routing["priority"] == 3
    assert routing["priority_capped_from"] == 9


def test_a_light_key_is_not_stuck_behind_a_flooding_key(live, store):
    """On the one-slot host, key A queues 12 requests, then key B sends one at the same
    priority: B is served after at most one more of A's (round robin), not after all 12."""
    a, _ = store.create(f"flood-{uuid.uuid4().hex[:6]}")
    b, _ = store.create(f"light-{uuid.uuid4().hex[:6]}")
    done: list[str] = []
    lock = threading.Lock()

    def send(key, who, tokens):
        r = generate(live.url, key, tokens=tokens, prompt=who)
        assert r.status_code == 200, r.text
        with lock:
            done.append(who)

    # ~0.5 s each on the only slot: A's requests queue up behind the one running
    flood = [threading.Thread(target=send, args=(a, f"A{i}", 1000)) for i in range(12)]
    for t in flood:
        t.start()
    level5 = priority_list_keys("solo")[4]
    wait_for(lambda: live.redis.llen(level5) >= 8, 30, "A's backlog in the host's queue")
    light = threading.Thread(target=send, args=(b, "B", 2))
    light.start()
    for t in [*flood, light]:
        t.join(120)
    assert "B" in done
    # FIFO would serve B 12th; fair share puts it first among the waiting
    assert done.index("B") <= 3, done


def test_a_pickled_message_on_a_host_queue_is_refused_not_run(live):
    """Workers accept JSON only: a pickle payload (which could run code when loaded) is
    rejected and logged; the task never runs."""
    marker = f"pickled-{uuid.uuid4().hex}"
    body = pickle.dumps(((marker, {"endpoint": "generate"}), {}, {}))
    message = {
        "body": base64.b64encode(body).decode(),
        "content-encoding": "binary",
        "content-type": "application/x-python-serialize",
        "headers": {"lang": "py", "task": "sollol.infer", "id": marker, "root_id": marker},
        "properties": {
            "correlation_id": marker,
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": "solo"},
            "priority": 5,
            "body_encoding": "base64",
            "delivery_tag": str(uuid.uuid4()),
        },
    }
    live.redis.lpush(priority_list_keys("solo")[4], json.dumps(message))
    wait_for(lambda: live.redis.llen(priority_list_keys("solo")[4]) == 0, 30, "the worker takes it")
    log = live.stack.log_dir / "worker-solo.log"
    wait_for(
        lambda: "untrusted content of type pickle" in log.read_text(errors="replace"),
        30,
        "the refusal in the worker's log",
    )
    assert not live.redis.exists(load_config(env={}).key("stream", marker))


def test_a_redis_with_a_password_serves_the_whole_stack(tmp_path):
    """Gateway, workers, beat and control reach a Redis that requires a password through a
    redis://:password@… URL (the same parsing serves rediss:// URLs)."""
    import yaml

    from sollol.embedded_redis import EmbeddedRedis, free_port
    from sollol.launcher import Stack
    from tests.integration.conftest import FAST

    with EmbeddedRedis(password="s3cret-pw").start() as server:
        assert ":s3cret-pw@" in server.url
        profile = tmp_path / "fleet.yaml"
        profile.write_text(yaml.safe_dump(solo_profile()))
        cfg = load_config(env={}, redis_url=server.url, port=free_port(), **FAST)
        stack = Stack(cfg, sim_profile=str(profile), sim_control_port=free_port())
        try:
            stack.start()  # ready = every host registered through the password-protected Redis
            r = httpx.post(
                f"http://127.0.0.1:{cfg.port}/api/generate",
                json={
                    "model": "llama3.2",
                    "prompt": "hi",
                    "stream": False,
                    "options": {"num_predict": 3},
                },
                timeout=60,
            )
            assert r.status_code == 200, r.text
            assert r.json()["eval_count"] == 3
        finally:
            stack.stop()
            stack.cleanup_logs()


def test_decisions_keep_sizes_never_the_prompt(live, store):
    """What the dashboard and /api/decisions show is where and how a request ran, not what it
    said: no decision record holds the prompt's text."""
    secret, _ = store.create(f"private-{uuid.uuid4().hex[:6]}")
    marker = f"confidential-{uuid.uuid4().hex}"
    r = httpx.post(
        f"{live.url}/api/chat",
        headers={"Authorization": f"Bearer {secret}"},
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": f"remember {marker}"}],
            "stream": False,
            "options": {"num_predict": 3},
        },
        timeout=60,
    )
    assert r.status_code == 200
    key = load_config(env={}).key("decisions")
    request_id = r.headers["X-SOLLOL-Request-Id"]
    records = wait_for(
        lambda: [d for d in live.redis.lrange(key, 0, -1) if request_id.encode() in d],
        20,
        "the request's decision record",
    )
    assert not any(marker.encode() in d for d in live.redis.lrange(key, 0, -1)), records
