"""A steady stream of priority-10 work cannot starve a priority-1 request: it ages upward and is
served within a bounded wait (9 aging steps at most)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.integration.conftest import solo_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]
STEP_S = 0.5


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        solo_profile(),
        aging_step_s=STEP_S,
        aging_interval_s=0.25,
    )


def _gen(url, priority, tokens):
    r = httpx.post(
        f"{url}/api/generate?priority={priority}",
        timeout=120,
        json={
            "model": "llama3.2",
            "prompt": "fair",
            "stream": False,
            "options": {"num_predict": tokens},
        },
    )
    r.raise_for_status()
    return r.json()


def test_priority_1_is_served_while_priority_10_keeps_arriving(live):
    stop = threading.Event()
    served_high = []

    def flood():
        while not stop.is_set():
            served_high.append(_gen(live.url, 10, 100))  # ~50 ms each on the only slot

    floods = [threading.Thread(target=flood) for _ in range(8)]  # always several critical waiting
    for t in floods:
        t.start()
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        low = _gen(live.url, 1, 20)
        waited = time.monotonic() - t0
    finally:
        stop.set()
        for t in floods:
            t.join()
    assert low["done"]
    # without aging it would wait for the flood to end; with it, ≤ 9 steps plus service time
    assert waited < 9 * STEP_S + 6, waited
    assert len(served_high) > 20  # the flood really was saturating the host meanwhile
    assert low["_sollol_routing"]["queue_wait_ms"] > 1000  # and the low one really did wait
