"""Fair share on the live stack with a host of two slots: the gateway fair-pushes with the host's
slot count as the quantum, so a light key's requests that fit in the host's slots all wait ahead
of a flooding key's backlog (sollol/state/fairness.py)."""

from __future__ import annotations

import json
import threading
import uuid

import pytest

from sollol.state.queues import priority_list_keys
from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile
from tests.integration.keyed import generate, key_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEVEL5 = priority_list_keys("duo")[4]


@pytest.fixture(scope="module")
def live(live_factory):
    node = {"name": "duo", "num_parallel": 2, "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}
    return live_factory(make_profile([node]), auth="on")


@pytest.fixture(scope="module")
def store(live):
    return key_store(live)


def _waiting_tenants(live) -> list[str]:
    """Tenants of the messages waiting at priority 5, in the order workers will take them."""
    raw = live.redis.lrange(LEVEL5, 0, -1)
    return [json.loads(m)["headers"].get("sollol_tenant", "") for m in reversed(raw)]


def test_a_light_keys_requests_that_fit_the_slots_wait_ahead_of_the_flood(live, store):
    """Key A fills both slots with long requests and queues 6 more; key B then sends two. Both
    of B's go to the front (the quantum is the host's 2 slots); with a quantum of one the second
    would wait behind A's oldest."""
    a_secret = store.create(f"flood-{uuid.uuid4().hex[:6]}")[0]
    b_name = f"light-{uuid.uuid4().hex[:6]}"
    b_secret = store.create(b_name)[0]
    threads = []

    def send(key: str, tokens: int, prompt: str) -> None:
        r = generate(live.url, key, tokens, prompt=prompt)
        assert r.status_code == 200, r.text

    # 6000 tokens take ~3.7 s of wall time each with both slots busy: A's stay where they are
    for i in range(8):
        threads.append(threading.Thread(target=send, args=(a_secret, 6000, f"A{i}")))
        threads[-1].start()
    wait_for(lambda: live.redis.llen(LEVEL5) >= 6, 30, "A's backlog of 6 in the host's queue")
    for i in range(2):
        threads.append(threading.Thread(target=send, args=(b_secret, 2, f"B{i}")))
        threads[-1].start()
        wait_for(lambda n=i: _waiting_tenants(live).count(b_name) > n, 30, "B's request queued")
    order = _waiting_tenants(live)
    for t in threads:
        t.join(120)
    assert order[:2] == [b_name, b_name], order
    assert len(order) == 8, order
