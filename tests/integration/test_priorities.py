"""Priorities 1–10 are real broker priorities: on a saturated host, critical work overtakes batch work."""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import solo_profile

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(solo_profile())


def _generate(url: str, priority: int, tokens: int, finished: dict, label: str) -> None:
    r = httpx.post(
        f"{url}/api/generate?priority={priority}",
        timeout=120,
        json={
            "model": "llama3.2",
            "prompt": label,
            "stream": False,
            "options": {"num_predict": tokens},
        },
    )
    r.raise_for_status()
    finished[label] = time.monotonic()


def _host(live):
    return live.get("/api/fleet")["hosts"][0]


def test_priority_9_queued_after_priority_2_starts_before_them(live):
    finished: dict[str, float] = {}
    with cf.ThreadPoolExecutor(8) as pool:
        # occupies the only slot for ~3 s (6000 tokens at 100 tok/s, time scale 0.05)
        blocker = pool.submit(_generate, live.url, 5, 6000, finished, "blocker")
        wait_for(lambda: _host(live)["running"] == 1, 30, "the blocker to start")
        lows = [pool.submit(_generate, live.url, 2, 200, finished, f"low{i}") for i in range(4)]
        wait_for(lambda: _host(live)["queued"][1] == 4, 30, "the priority-2 requests to queue")
        high = pool.submit(_generate, live.url, 9, 200, finished, "high")
        wait_for(lambda: _host(live)["queued"][8] == 1, 30, "the priority-9 request to queue")
        assert "blocker" not in finished, "the blocker ended before the queue was built"
        for f in [blocker, *lows, high]:
            f.result()
    order = sorted(finished, key=finished.get)
    assert order[0] == "blocker"
    assert order[1] == "high", order


def test_header_priority_is_accepted_and_reported(live):
    r = httpx.post(
        live.url + "/api/generate",
        headers={"X-SOLLOL-Priority": "8"},
        timeout=60,
        json={"model": "llama3.2", "prompt": "x", "stream": False, "options": {"num_predict": 2}},
    )
    assert r.status_code == 200
    assert r.json()["_sollol_routing"]["priority"] == 8


def test_queue_depth_per_priority_is_visible_in_the_fleet_view(live):
    stop = threading.Event()
    seen: list[list[int]] = []

    def watch():
        while not stop.is_set():
            seen.append(live.get("/api/fleet")["hosts"][0]["queued"])
            time.sleep(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    finished: dict[str, float] = {}
    with cf.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(_generate, live.url, 3, 400, finished, f"q{i}") for i in range(5)]
        for f in futures:
            f.result()
    stop.set()
    watcher.join()
    assert any(q[2] >= 2 for q in seen), "priority-3 work should have been seen waiting at index 2"


def _counts(live) -> dict[str, int]:
    """Queue waits recorded so far per priority (the fleet view's ``queue_wait_ms``)."""
    return {p: w["n"] for p, w in live.get("/api/fleet")["queue_wait_ms"].items()}


def test_per_priority_queue_wait_is_measured_and_exposed(live):
    before = _counts(live)
    finished: dict[str, float] = {}
    with cf.ThreadPoolExecutor(4) as pool:
        for f in [
            pool.submit(_generate, live.url, p, 50, finished, f"w{p}{i}")
            for p in (2, 9)
            for i in range(3)
        ]:
            f.result()

    def recorded() -> bool:  # the gateway records waits off the request path, shortly after
        now = _counts(live)
        return all(now.get(p, 0) - before.get(p, 0) == 3 for p in ("2", "9"))

    wait_for(recorded, 30, "the six queue waits to be recorded")
    waits = live.get("/api/fleet")["queue_wait_ms"]
    assert waits["2"]["max"] >= waits["2"]["p50"] >= 0
    assert waits["9"]["max"] >= waits["9"]["p50"] >= 0
