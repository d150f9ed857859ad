"""Faults are normal events: a killed worker, a crashed node, a hung node, a failing node, a dead
host with work queued, a Redis restart. No request is lost, none is answered twice, and every
failure the client sees is a clear error rather than a hang."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import time
import urllib.request

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(live_factory):
    return live_factory(
        make_profile(
            [
                {
                    "name": "alpha",
                    "num_parallel": 2,
                    "models": {"llama3.2": CHAT},
                    "loaded": ["llama3.2"],
                },
                {
                    "name": "beta",
                    "num_parallel": 2,
                    "models": {"llama3.2": CHAT},
                    "loaded": ["llama3.2"],
                },
            ],
            time_scale=0.05,
        ),
        idle_chunk_timeout_s=4.0,
        circuit_open_s=5.0,
    )


@pytest.fixture(autouse=True)
def healthy_fleet(live):
    """Every test starts and ends with both nodes serving and both circuits closed."""
    yield
    for node in ("alpha", "beta"):
        live.recover(node)
    for child in live.stack.children:
        if child.alive():
            os.kill(child.proc.pid, signal.SIGCONT)
    live.redis.delete(*[live.cfg.key("circuit", h) for h in ("alpha", "beta")])
    _wait_healthy(live, {"alpha", "beta"})


def _wait_healthy(live, names, timeout=60.0):
    last: dict[str, object] = {}

    def healthy() -> bool:
        health = httpx.get(live.url + "/api/health", timeout=10)
        view = live.get("/api/fleet")
        last.update({h["name"]: f"{h['health']} {h['reason']}".strip() for h in view["hosts"]})
        last.update(health=health.status_code, snapshot_age_ms=view["snapshot_age_ms"])
        fresh = view["snapshot_age_ms"] < 300
        return health.status_code == 200 and fresh and all(last[n] == "healthy" for n in names)

    try:
        wait_for(healthy, timeout, "both hosts healthy", interval=0.2)
    except AssertionError:
        pytest.fail(f"hosts not healthy again: {last}")


def _gen(live, tokens=40, stream=False, priority=5, timeout=60):
    r = httpx.post(
        f"{live.url}/api/generate?priority={priority}",
        timeout=timeout,
        json={
            "model": "llama3.2",
            "prompt": "fault test",
            "stream": stream,
            "options": {"num_predict": tokens},
        },
    )
    if stream:
        lines = [json.loads(x) for x in r.text.splitlines()]
        return r.status_code, lines
    return r.status_code, r.json()


def _worker(live, host):
    return next(c for c in live.stack.children if c.name == f"worker-{host}")


def _running_host(live):
    """The host executing a request right now, if any (from the fleet view)."""
    return next((h["name"] for h in live.get("/api/fleet")["hosts"] if h["running"]), None)


def test_worker_killed_mid_request_is_redelivered_and_answered_once(live):
    """SIGKILL of the worker executing a request: the broker gives the request back within
    seconds (renewed unacked leases, short visibility timeout), it runs again, the client gets
    exactly one complete answer."""
    with cf.ThreadPoolExecutor(1) as pool:
        fut = pool.submit(_gen, live, 6000, False, 5, 120)  # 3 s of generation: killed midway
        victim = wait_for(lambda: _running_host(live), 30, "the request to start on a host")
        os.kill(_worker(live, victim).proc.pid, signal.SIGKILL)
        status, body = fut.result()
    assert status == 200 and body["done"] and body["eval_count"] == 6000
    counts = _ledger(live, body["_sollol_routing"]["request_id"])
    assert counts["received"] >= 2, f"the request was not run again after the kill: {counts}"
    assert counts["completed"] == 1, f"the request was answered {counts['completed']} times"


def _ledger(live, rid):
    """How often the simulated nodes received and finished request ``rid``, in total and per
    node: ``{"received", "completed", "nodes": {name: {"received", "completed"}}}``."""
    return live.sim_requests()["requests"].get(rid, {"received": 0, "completed": 0, "nodes": {}})


def test_node_crash_mid_stream_fails_over_before_the_first_token(live):
    live.fault("alpha", "down")
    live.fault("beta", "none")
    results = [_gen(live, tokens=5) for _ in range(6)]
    assert all(status == 200 and body["done"] for status, body in results)
    assert {body["_sollol_routing"]["host"] for _, body in results} == {"beta"}


def test_hung_node_is_abandoned_after_the_idle_timeout(live):
    live.fault("alpha", "hang")
    t0 = time.monotonic()
    results = [_gen(live, tokens=5, timeout=60) for _ in range(4)]
    assert all(status == 200 and body["done"] for status, body in results), results
    assert {body["_sollol_routing"]["host"] for _, body in results} == {"beta"}
    assert time.monotonic() - t0 < 40


def test_failing_node_never_fails_a_request(live):
    """alpha answers every request with a 500: each request it gets is retried on beta, and
    alpha's failures open its circuit. Load is sent until alpha has failed often enough to open
    it (8 clients on 2 + 2 slots keep beta full, so alpha keeps being picked while closed)."""
    # earlier tests' faults lowered alpha's learned success rate, which makes the router queue
    # behind beta rather than try alpha: alpha starts this test as a host it knows nothing bad of
    live.redis.delete(live.cfg.key("stats", "alpha"))
    live.fault("alpha", "error")
    threshold = live.cfg.circuit_failures_to_open
    results, alpha_failures = [], 0
    with cf.ThreadPoolExecutor(8) as pool:
        while alpha_failures < threshold and len(results) < 96:
            # 0.2 s each: beta's queue grows a real wait, so idle alpha keeps looking better
            batch = list(pool.map(lambda _: _gen(live, tokens=400), range(8)))
            results += batch
            ids = [body.get("_sollol_routing", {}).get("request_id") for _, body in batch]
            alpha_failures += sum(_alpha_tries(live, rid) for rid in ids if rid)
    assert all(status == 200 and body["done"] for status, body in results), results
    assert {body["_sollol_routing"]["host"] for _, body in results} == {"beta"}
    assert alpha_failures >= threshold, "the load never reached alpha often enough"
    retried = sum(body["_sollol_routing"]["attempts"] - 1 for _, body in results)
    assert retried == alpha_failures, "every failure on alpha was retried on another host"
    circuit = live.redis.hgetall(live.cfg.key("circuit", "alpha"))
    assert circuit.get(b"opened_at"), f"alpha's failures never opened its circuit: {circuit}"


def _alpha_tries(live, rid):
    return int(_ledger(live, rid)["nodes"].get("alpha", {}).get("received", 0))


def test_open_circuit_is_skipped_then_probed_and_closed(live):
    from sollol.state.circuit import record_failure
    from sollol.state.connection import connect

    decoded = connect(live.cfg)  # SOLLOL's state functions read replies as str
    for _ in range(live.cfg.circuit_failures_to_open):
        state = record_failure(decoded, live.cfg, "alpha", "test", time.time())
    assert state == "open"
    opened = time.monotonic()
    wait_for(lambda: _alpha_view(live)["circuit"] == "open", 10, "the fleet view to show it")
    assert _alpha_view(live)["health"] == "down"
    cool_down_ends = opened + live.cfg.circuit_open_s - 0.5  # requests routed before it

    def until_cool_down_ends(_):
        return [_gen(live, tokens=3) for _ in range(4) if time.monotonic() < cool_down_ends]

    with cf.ThreadPoolExecutor(4) as pool:
        results = [r for rs in pool.map(until_cool_down_ends, range(4)) for r in rs]
    assert len(results) >= 4, "too few requests sent while the circuit was open"
    assert {body["_sollol_routing"]["host"] for _, body in results} == {"beta"}
    # cool-down over: half-open, alpha gets probes and traffic again, and its successes close it
    wait_for(
        lambda: _alpha_view(live)["circuit"] != "open",
        live.cfg.circuit_open_s + 30,
        "the cool-down to end",
        interval=0.2,
    )

    def closed() -> bool:
        with cf.ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda _: _gen(live, tokens=3), range(8)))
        return live.redis.hget(live.cfg.key("circuit", "alpha"), "state") == b"closed"

    wait_for(closed, 60, "successes on the half-open host to close its circuit")


def _alpha_view(live):
    return next(h for h in live.get("/api/fleet")["hosts"] if h["name"] == "alpha")


def test_mid_stream_failure_ends_with_ollamas_error_line(live):
    live.fault("alpha", "error_mid_stream")
    live.fault("beta", "error_mid_stream")
    status, lines = _gen(live, tokens=200, stream=True)
    assert status == 200
    assert "error" in lines[-1] and not lines[-1].get("done")
    assert all(not line.get("done") for line in lines[:-1])


def test_messages_queued_on_a_dead_host_move_to_a_healthy_one(live):
    """Worker of alpha frozen (SIGSTOP): its heartbeat stops, beat moves what waits in its queue."""
    worker = _worker(live, "alpha")
    os.kill(worker.proc.pid, signal.SIGSTOP)
    try:
        with cf.ThreadPoolExecutor(8) as pool:
            futures = [pool.submit(_gen, live, 20, False, 5, 60) for _ in range(8)]
            results = [f.result() for f in futures]
    finally:
        os.kill(worker.proc.pid, signal.SIGCONT)
    assert all(status == 200 and body["done"] for status, body in results), results
    assert {body["_sollol_routing"]["host"] for _, body in results} == {"beta"}


def _generating(live):
    """Requests the simulated nodes are executing right now (from the control server)."""
    with urllib.request.urlopen(f"{live.control_url}/nodes", timeout=10) as r:
        return sum(n["requests"]["in_flight"] for n in json.loads(r.read())["nodes"])


def _hosts(live):
    return [
        (h["name"], h["health"], h["running"], h["queued"]) for h in live.get("/api/fleet")["hosts"]
    ]


def test_redis_restart_loses_no_request(live, redis_server):
    """Redis dies (SIGKILL; the test server keeps no data) while requests are generating, none
    waiting in a queue, and comes back empty a second later: each client gets its one complete
    answer.
    (A node may run a request a second time meanwhile: the wiped Redis no longer knows it was
    taken. That is wasted work, which bench/chaos.py counts, not a second answer.)
    Twice in a row, and no process may need a restart: a later restart used to make workers that
    had reconnected once exit in kombu's channel close. That crash depends on timing, so this
    test may pass without the fix; tests/integration/test_transport.py pins it."""
    # as many requests as one node has slots: they all run at once wherever the router puts
    # them (it may prefer one host, e.g. for its success rate, and queue behind it otherwise)
    slots = min(n["num_parallel"] for n in live.profile["nodes"])
    children = {c.name: (c.proc.pid, c.restarts) for c in live.stack.children}
    for _ in range(2):
        with cf.ThreadPoolExecutor(slots) as pool:
            futures = []
            for n in range(1, slots + 1):  # one at a time: each is running before the next
                futures.append(pool.submit(_gen, live, 8000, False, 5, 120))  # 4 s each
                wait_for(
                    lambda n=n: _generating(live) == n,
                    30,
                    lambda n=n: f"{n} generating: {_hosts(live)}",
                )
            redis_server.kill()
            time.sleep(1.0)  # the outage
            redis_server.start()
            results = [f.result() for f in futures]
        assert all(s == 200 and b.get("eval_count") == 8000 for s, b in results), results
        _wait_healthy(live, {"alpha", "beta"})
        status, body = _gen(live, tokens=3)
        assert status == 200 and body["done"]
    time.sleep(1.0)  # a worker that dies on reconnect does so within a second: watch that long
    assert {c.name: (c.proc.pid, c.restarts) for c in live.stack.children} == children


def test_gateway_answers_503_while_redis_is_away_and_recovers(live, redis_server):
    redis_server.kill()
    try:
        r = httpx.post(
            live.url + "/api/generate",
            timeout=30,
            json={
                "model": "llama3.2",
                "prompt": "x",
                "stream": False,
                "options": {"num_predict": 2},
            },
        )
        assert r.status_code == 503
        assert "Redis" in r.json()["error"]
        assert httpx.get(live.url + "/api/health", timeout=10).status_code == 503
    finally:
        redis_server.start()
    # hosts re-register within a heartbeat; a request arriving meanwhile waits for them
    status, body = _gen(live, tokens=2)
    assert status == 200 and body["done"], (status, body)
    _wait_healthy(live, {"alpha", "beta"})
    status, body = _gen(live, tokens=2)
    assert status == 200 and body["done"], (status, body, live.get("/api/fleet"))
