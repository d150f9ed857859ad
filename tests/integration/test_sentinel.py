"""Redis behind Sentinel: gateway, workers and beat follow a failover by themselves.

A primary, a replica and three sentinels run from the embedded redis-server binary, and a live
stack (gunicorn gateway, one Celery worker per simulated node, control worker, beat) is pointed
at the sentinels' ``sentinel://`` URL. The primary is SIGKILLed while requests are in flight; the
sentinels promote the replica; every request still gets exactly one complete answer and the
simulated nodes finish each request exactly once.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from sollol.config import load_config
from sollol.embedded_redis import RedisNotFound, SentinelGroup, free_port
from sollol.state.connection import connect
from tests.conftest import IN_CI
from tests.integration.conftest import CHAT, FAST, Live, launch, make_profile
from tests.sim.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLIENTS = 8
TOKENS = 400  # 4 s of generation at 100 tokens/s, 0.2 s at the test's time scale


@pytest.fixture(scope="module")
def group() -> Iterator[SentinelGroup]:
    """Primary, replica and three sentinels that call the primary down after 1 s of silence."""
    try:
        started = SentinelGroup(
            replicas=1, sentinels=3, down_after_ms=1000, failover_timeout_ms=2000
        ).start()
    except (RedisNotFound, RuntimeError) as exc:
        if IN_CI:
            pytest.fail(f"CI needs redis-server for the sentinel test: {exc}")
        pytest.skip(f"no redis-server to run sentinels with: {exc}")
    yield started
    started.close()


@pytest.fixture(scope="module")
def live(group: SentinelGroup, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    node = {"num_parallel": 4, "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}
    profile = make_profile([{"name": "alpha", **node}, {"name": "beta", **node}])
    cfg = load_config(env={}, redis_url=group.url, port=free_port(), **FAST)
    live = launch(profile, cfg, Path(tmp_path_factory.mktemp("sentinel")), connect(cfg))
    yield live
    live.stack.stop()
    live.stack.cleanup_logs()


@dataclass
class Answer:
    """What one client got for one request, and when (monotonic s)."""

    stream: bool
    started: float
    ended: float
    status: int
    request_id: str
    final: dict[str, Any]
    chunks: int  # streamed lines before the final one


def _generate(live: Live, stream: bool) -> Answer:
    started = time.monotonic()
    r = httpx.post(
        f"{live.url}/api/generate",
        timeout=120,
        json={
            "model": "llama3.2",
            "prompt": "sentinel",
            "stream": stream,
            "options": {"num_predict": TOKENS},
        },
    )
    lines = [json.loads(x) for x in r.text.splitlines()] if stream else [r.json()]
    return Answer(
        stream,
        started,
        time.monotonic(),
        r.status_code,
        r.headers.get("X-SOLLOL-Request-Id", ""),
        lines[-1],
        len(lines) - 1,
    )


def _load(live: Live, answers: list[Answer], stop: threading.Event, k: int) -> None:
    """One client: request after request, streamed and not in turn, until ``stop``."""
    i = k
    while not stop.is_set():
        answers.append(_generate(live, stream=i % 2 == 0))
        i += 1


def test_primary_killed_under_load_loses_no_request_and_answers_none_twice(live, group):
    old = group.primary()
    assert old is not None and group.synced_replicas() == 1
    answers: list[Answer] = []
    stop = threading.Event()
    with cf.ThreadPoolExecutor(CLIENTS) as pool:
        clients = [pool.submit(_load, live, answers, stop, k) for k in range(CLIENTS)]
        try:
            wait_for(lambda: len(answers) >= 2 * CLIENTS, 60, "the load to flow")
            killed_at = time.monotonic()
            old.kill()
            wait_for(lambda: group.primary() not in (None, old), 30, "the replica's promotion")
            promoted = len(answers)
            wait_for(lambda: len(answers) >= promoted + 2 * CLIENTS, 60, "load on the new primary")
        finally:
            stop.set()
            for c in clients:
                c.result()
    in_flight = [a for a in answers if a.started < killed_at < a.ended]
    assert in_flight, "no request was in flight when the primary died"
    failed = [a for a in answers if a.status != 200 or not a.final.get("done")]
    assert failed == [], failed
    # delayed by the failover, not stuck on the dead master until the retries ran out
    slowest = max(a.ended - a.started for a in answers)
    assert slowest < live.cfg.redis_failover_s, f"a request took {slowest:.1f} s"
    # complete answers: every token once, none lost in the failover, none replayed
    assert {a.final["eval_count"] for a in answers} == {TOKENS}
    assert {a.chunks for a in answers if a.stream} == {TOKENS}
    ids = [a.request_id for a in answers]
    assert len(set(ids)) == len(ids) and "" not in ids
    ledger = live.sim_requests()["requests"]
    completed = {rid: ledger.get(rid, {}).get("completed", 0) for rid in ids}
    assert {rid: n for rid, n in completed.items() if n != 1} == {}, "finished on the nodes"
