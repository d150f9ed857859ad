"""Admission control: bounded queues answer Ollama's own 503 busy message with Retry-After instead
of letting work pile up without limit; a request that cannot finish in time gets a clear 504."""

from __future__ import annotations

import concurrent.futures as cf
import time

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import solo_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]
BUSY = "server busy, please try again.  maximum pending requests exceeded"


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        solo_profile(), max_queue_per_host=3, request_timeout_s=8.0, snapshot_cache_ms=50.0
    )


def _gen(url, tokens, timeout=60):
    return httpx.post(
        url + "/api/generate",
        timeout=timeout,
        json={
            "model": "llama3.2",
            "prompt": "admission",
            "stream": False,
            "options": {"num_predict": tokens},
        },
    )


def test_a_full_host_queue_answers_503_busy_with_retry_after(live):
    with cf.ThreadPoolExecutor(12) as pool:
        futures = []
        for _ in range(12):
            futures.append(pool.submit(_gen, live.url, 1000))  # ~0.5 s each on the only slot
            time.sleep(0.05)  # paced arrivals: the queue fills while the slot is busy
        responses = [f.result() for f in futures]
    busy = [r for r in responses if r.status_code == 503]
    served = [r for r in responses if r.status_code == 200]
    assert busy, [r.status_code for r in responses]
    assert served and len(served) + len(busy) == 12
    assert all(r.json() == {"error": BUSY} for r in busy)
    assert all(int(r.headers["Retry-After"]) > 0 for r in busy)


def test_a_request_that_cannot_finish_in_time_gets_504(live):
    r = _gen(live.url, 100_000)  # 50 s of generation, the gateway allows 8 s
    assert r.status_code == 504, r.text
    assert r.json() == {"error": "no answer within 8 s"}
    # and the worker was told to stop, freeing the slot (well before the 50 s would be over)
    wait_for(lambda: live.get("/api/fleet")["hosts"][0]["running"] == 0, 20, "the slot to free")
