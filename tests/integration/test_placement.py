"""Placement on the live stack: a model whose requests queue on its one resident copy is
pre-loaded by beat on another host that has it installed, and the decision is in /api/alerts."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import Live, make_profile

pytestmark = pytest.mark.integration
# 16 GB: the router prices a cold load of it at ~17 s + its penalty, far above the queue the
# test builds, so only placement starts the second copy
SLOW = {"size_mb": 16000, "load_s": 60.0, "prompt_tps": 2000, "gen_tps": 20}


@pytest.fixture(scope="module")
def live(live_factory) -> Live:  # type: ignore[no-untyped-def]
    nodes = [
        {"name": "pl-a", "num_parallel": 1, "models": {"hot": SLOW}, "loaded": ["hot"]},
        {"name": "pl-b", "num_parallel": 1, "models": {"hot": SLOW}},
    ]
    return live_factory(
        make_profile(nodes, time_scale=0.05),
        placement_enabled=True,
        placement_interval_s=0.5,
        placement_wait_threshold_s=0.05,
    )


def _loaded_on(live: Live, host: str) -> bool:
    hosts = {h["name"]: h for h in live.get("/api/models")["hosts"]}
    return any(m["name"] == "hot:latest" for m in hosts[host]["loaded"])


def test_a_queued_model_gets_a_second_copy_and_the_decision_is_explained(live: Live):
    assert not _loaded_on(live, "pl-b")
    body = {"model": "hot", "prompt": "x", "stream": False, "options": {"num_predict": 30}}
    stop = threading.Event()
    codes: list[int] = []

    def client() -> None:  # a steady queue of a few requests on pl-a's one slot
        while not stop.is_set():
            codes.append(httpx.post(f"{live.url}/api/generate", json=body, timeout=120).status_code)

    # four clients keep ~3 requests waiting: past placement's 0.05 s threshold, far short of
    # what the router prices a cold load of a 16 GB model at (~18 s), so the router itself never
    # starts pl-b's copy (that would race placement); only placement does
    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        placed = wait_for(
            lambda: [a for a in live.get("/api/alerts")["alerts"] if a["from"] == "placement"],
            timeout=60,
            what=lambda: (
                "a placement decision in /api/alerts; pl-b loaded: "
                f"{_loaded_on(live, 'pl-b')}, alerts: {live.get('/api/alerts')['alerts']}"
            ),
        )
        wait_for(lambda: _loaded_on(live, "pl-b"), timeout=60, what="hot loaded on pl-b")
    finally:
        stop.set()
        for t in threads:
            t.join(120)
    assert set(codes) == {200}
    assert placed[0]["host"] == "pl-b" and placed[0]["to"] == "pre-load hot:latest"
    assert "predicted wait" in placed[0]["reason"]
