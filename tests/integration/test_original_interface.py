"""The original SOLLOL's interface on the real stack: its Quick Start (``SOLLOL(config).start()``),
its CLI (``python -m sollol.cli up`` with its flags), and its endpoints, against simulated nodes
that the stack did not start (as real Ollama servers)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import httpx
import psutil
import pytest

from sollol import SOLLOL, SOLLOLConfig
from sollol.cli import main as cli_main
from sollol.embedded_redis import free_port
from sollol.sim import SimFleet
from sollol.sim.profile import parse_profile
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHAT = {
    "model": "llama3.2",
    "messages": [{"role": "user", "content": "Analyze this data and extract key insights..."}],
    "stream": False,
    "options": {"num_predict": 3},
}
FAST = {"heartbeat_interval_s": 0.5, "health_check_interval_s": 1.0}


@pytest.fixture(scope="module")
def nodes():
    """Two Ollama look-alikes on free ports: ``host:port`` strings, as the original listed them."""
    profile = parse_profile(
        {
            "time_scale": 0.05,
            "nodes": [
                {
                    "name": f"n{i}",
                    "port": free_port(),
                    "vram_mb": 8192,
                    "models": {"llama3.2": {}},
                    "loaded": ["llama3.2"],
                }
                for i in range(2)
            ],
        }
    )
    with SimFleet(profile) as fleet:
        yield [url.split("://", 1)[1] for url in fleet.urls.values()]


def _names(addrs):
    return {a.replace(".", "-").replace(":", "-") for a in addrs}


def _pids(sollol):
    return [psutil.Process(pid) for pid in sollol.get_status()["processes"].values()]


def _gone(procs):
    return all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in procs)


def test_quick_start_programmatic_api(nodes):
    config = SOLLOLConfig(
        ray_workers=4,
        dask_workers=4,
        hosts=nodes,
        autobatch_interval=30,
        routing_strategy="performance",
        gateway_port=free_port(),
        **FAST,
    )
    sollol = SOLLOL(config)
    sollol.start(blocking=False)
    procs = _pids(sollol)
    try:
        status = sollol.get_status()
        assert status["running"] is True
        assert status["embedded_redis"] is True  # no redis_url given
        assert status["workers"] == 2
        assert {h["name"] for h in status["hosts"]} == _names(nodes)
        assert {h["health"] for h in status["hosts"]} == {"healthy"}

        r = httpx.post(f"{sollol.gateway_url}/api/chat?priority=8", json=CHAT, timeout=30)
        assert r.status_code == 200
        routing = r.json()["_sollol_routing"]
        assert routing["host"] in _names(nodes) and routing["priority"] == 8

        assert sollol.get_health()["status"] == "ok"
        stats = wait_for(
            lambda: sollol.get_stats()["routing"]["decisions"] >= 1 and sollol.get_stats()
        )
        assert set(stats["hosts"]) == _names(nodes)

        change = sollol.update_config(
            ray_workers=6, routing_strategy="round_robin", max_retries=5, gateway_port=1
        )
        assert change == {
            "applied": {"strategy": "round_robin", "max_attempts": 5},
            "restart_required": {"port": 1},
            "ignored": ["ray_workers"],
        }
        # every gateway process picks the override up from Redis within a second
        wait_for(lambda: sollol.get_status()["strategy"] == "round_robin", timeout=10)
    finally:
        sollol.stop()
    assert sollol.get_status()["running"] is False
    wait_for(lambda: _gone(procs), timeout=15)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sollol.gateway_url}/api/health", timeout=2)


def test_context_manager_starts_and_stops(nodes):
    config = SOLLOLConfig(hosts=nodes[:1], gateway_port=free_port(), **FAST)
    with SOLLOL(config) as sollol:
        procs = _pids(sollol)
        assert (
            httpx.get(f"{sollol.gateway_url}/api/dashboard", timeout=5).json()["status"][
                "available_hosts"
            ]
            == 1
        )
    wait_for(lambda: _gone(procs), timeout=15)


def _read_until_ready(proc, lines):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if line.startswith("SOLLOL gateway ready at"):
            return line.split(" at ", 1)[1].strip()
        assert line or proc.poll() is None, "".join(lines)
    raise AssertionError("".join(lines))


def _stop(proc, sig):
    proc.send_signal(sig)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:  # did not stop: leave nothing behind, then fail
        for p in [*psutil.Process(proc.pid).children(recursive=True), proc]:
            p.kill()
        proc.communicate()
        raise
    return out


def test_blocking_start_serves_until_ctrl_c(nodes):
    port = free_port()
    script = (
        "from sollol import SOLLOL, SOLLOLConfig\n"
        f"SOLLOL(SOLLOLConfig(hosts={nodes!r}, gateway_port={port}, heartbeat_interval_s=0.5))"
        ".start(blocking=True)\n"
        "print('returned after Ctrl-C', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert _read_until_ready(proc, lines) == f"http://127.0.0.1:{port}"
        children = psutil.Process(proc.pid).children(recursive=True)
        assert httpx.post(f"http://127.0.0.1:{port}/api/chat", json=CHAT, timeout=30).is_success
    finally:
        out = _stop(proc, signal.SIGINT)
    assert proc.returncode == 0 and "returned after Ctrl-C" in out, out
    wait_for(lambda: _gone(children), timeout=15)


def test_the_original_cli_up_with_its_flags(nodes, capsys):
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "sollol.cli",
        "up",
        "--workers",
        "4",
        "--dask-workers",
        "4",
        "--autobatch-interval",
        "30",
        "--hosts",
        ",".join(nodes),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SOLLOL_HEARTBEAT_INTERVAL_S": "0.5"},
    )
    lines: list[str] = []
    url = f"http://127.0.0.1:{port}"
    try:
        assert _read_until_ready(proc, lines) == url
        assert any("ray_workers=4 has no effect" in line for line in lines), lines

        assert cli_main(["hosts", "--url", url]) == 0
        table = capsys.readouterr().out
        assert all(name in table for name in _names(nodes)) and "healthy" in table

        assert cli_main(["route", "--explain", json.dumps(CHAT), "--url", url, "--json"]) == 0
        explained = json.loads(capsys.readouterr().out)
        assert explained["decision"]["host"] in _names(nodes)
        assert explained["profile"]["task_type"] in ("analysis", "extraction")  # both in the text

        for path in ("/api/health", "/api/stats", "/api/dashboard", "/docs/", "/openapi.json"):
            assert httpx.get(url + path, timeout=5).status_code == 200, path
    finally:
        out = _stop(proc, signal.SIGTERM)
    assert proc.returncode == 0 and "SOLLOL stopped" in out, out
