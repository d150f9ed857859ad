"""A steady stream of priority-10 work cannot starve a priority-1 request: it ages upward and is
served within a bounded wait (9 aging steps at most)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.helpers import wait_for
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


def _critical_waiting(live) -> int:
    """Priority-10 requests queued on the host right now (index 9 of the per-priority counts)."""
    return int(live.get("/api/fleet")["hosts"][0]["queued"][9])


def test_priority_1_is_served_while_priority_10_keeps_arriving(live):
    stop = threading.Event()
    served_high: list[float] = []  # when each critical request finished

    def flood():
        while not stop.is_set():
            _gen(live.url, 10, 300)  # ~150 ms each on the only slot
            served_high.append(time.monotonic())

    floods = [threading.Thread(target=flood) for _ in range(8)]  # always several critical waiting
    for t in floods:
        t.start()
    try:
        wait_for(lambda: _critical_waiting(live) >= 4, 30, "a backlog of critical work")
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
    # the flood kept the host busy meanwhile, and the low one really did wait behind it
    assert len([t for t in served_high if t0 < t < t0 + waited]) >= 5, served_high
    assert low["_sollol_routing"]["queue_wait_ms"] > 1000
