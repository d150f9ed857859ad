"""One gateway process holds many more open requests than it has threads: under gevent (the
default) an open request is a greenlet, so a burst of streams waiting in a host's queue neither
exhausts the gateway nor keeps other clients out. Under gthread with 64 threads the 65th open
request waited for a thread and so did every health check; this test fails there."""

from __future__ import annotations

import json
import select
import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import make_profile

pytestmark = pytest.mark.integration

OPEN = 150  # open streams: more than gthread's 64 threads and than the old Redis pool of 128
# one slot generating 20 tokens/s (fleet time at time_scale 1): a request of 5000 tokens runs
# for minutes, so the other 79 wait in the host's queue, every one an open request at the gateway
SLOW = {"size_mb": 2000, "load_s": 1.0, "prompt_tps": 2000, "gen_tps": 20}


@pytest.fixture(scope="module")
def live(live_factory):
    node = {"name": "slow", "num_parallel": 1, "models": {"slow": SLOW}, "loaded": ["slow"]}
    return live_factory(make_profile([node], time_scale=1.0), max_queue_per_host=512)


def _open_stream(url: str, i: int) -> socket.socket:
    parts = urlsplit(url)
    body = json.dumps(
        {"model": "slow", "prompt": f"hold {i}", "stream": True, "options": {"num_predict": 5000}}
    ).encode()
    s = socket.create_connection((parts.hostname, parts.port), timeout=10)
    head = (
        f"POST /api/generate HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    s.sendall(head.encode() + body)
    return s


def _first_readable(socks: list[socket.socket], timeout_s: float) -> socket.socket | None:
    poller = select.poll()
    by_fd = {s.fileno(): s for s in socks}
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    ready = poller.poll(timeout_s * 1000)
    return by_fd[ready[0][0]] if ready else None


def _queued(url: str) -> int:
    r = httpx.get(url + "/api/fleet", timeout=5)
    r.raise_for_status()
    return sum(sum(h["queued"]) + h["running"] for h in r.json()["hosts"])


def test_more_open_streams_than_threads_and_the_gateway_still_answers(live):
    assert live.cfg.gateway_worker_class == "gevent"
    socks = [_open_stream(live.url, i) for i in range(OPEN)]
    try:
        # /api/fleet is served by the same process that holds the open streams
        wait_for(
            lambda: _queued(live.url) >= OPEN,
            60,
            lambda: f"only {_queued(live.url)} of {OPEN} open requests reached the fleet",
            interval=0.2,
        )
        t0 = time.monotonic()
        r = httpx.get(live.url + "/api/version", timeout=10)
        assert r.status_code == 200 and "version" in r.json()
        assert time.monotonic() - t0 < 5
        # each open call reads its stream on a Redis connection of its own: a pool smaller than
        # the open requests made reads fail, and the gateway took that for a Redis restart
        log = (Path(live.stack.log_dir) / "gateway.log").read_text(errors="replace")
        assert "resubmitting" not in log and "Too many connections" not in log, log[-2000:]
        # one stream is running (whichever the gateway published first, not always the first
        # opened): its headers and first line arrived
        running = _first_readable(socks, 30)
        assert running is not None, "no stream received its headers in 30 s"
        assert running.recv(4096).startswith(b"HTTP/1.1 200")
    finally:
        for s in socks:
            s.close()
    # closed clients are dropped while they wait: the gateway sees the closed socket between two
    # Redis reads, so their requests never reach the node (before, each one ran until its first
    # line found the socket closed: all 80 reached the node, one after the other)
    wait_for(lambda: _queued(live.url) == 0, 60, "the abandoned requests to leave", interval=0.2)
    reached = live.sim_requests()["requests"].values()
    assert not any(r["completed"] for r in reached)
    assert len(reached) < 10, f"{len(reached)} of {OPEN} abandoned requests reached the node"
