"""`sollol up --hosts FILE` in front of Ollama servers it did not start (simulated ones here), and
the `sollol up` command itself: ready line, answers, clean stop on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil
import pytest
import yaml

from sollol.config import load_config
from sollol.embedded_redis import free_port
from sollol.launcher import Stack, parse_hosts_file
from sollol.sim import SimFleet
from sollol.sim.profile import DEFAULT_BASE_PORT, parse_profile
from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def external_nodes():
    profile = parse_profile(
        {
            "time_scale": 0.05,
            "nodes": [
                {
                    "name": f"box{i}",
                    "port": free_port(),
                    "models": {"llama3.2": {}},
                    "loaded": ["llama3.2"],
                }
                for i in range(2)
            ],
        }
    )
    with SimFleet(profile) as fleet:
        yield fleet.urls


def _sim_node(name):
    return {"name": name, "num_parallel": 2, "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}


def test_hosts_file_fleet_answers_through_the_gateway(external_nodes, redis_server, tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("".join(f"{name} {url}\n" for name, url in external_nodes.items()))
    cfg = load_config(
        env={}, redis_url=redis_server.url, port=free_port(), heartbeat_interval_s=0.5
    )
    stack = Stack(cfg, hosts=parse_hosts_file(hosts, slots=2))
    try:
        stack.start()
        r = httpx.post(
            f"http://127.0.0.1:{cfg.port}/api/chat",
            timeout=30,
            json={
                "model": "llama3.2",
                "messages": [{"role": "user", "content": "hi"}],
                "stream": False,
                "options": {"num_predict": 3},
            },
        )
        assert r.status_code == 200 and r.json()["_sollol_routing"]["host"] in external_nodes
    finally:
        stack.stop()
        stack.cleanup_logs()


@pytest.fixture
def control_taken():
    """Hold the simulator's default control port, as another `sollol up` on the box would, so
    the launcher has to choose a free one (two test runs at once would race for it otherwise)."""
    with socket.socket() as sock:
        with contextlib.suppress(OSError):  # someone else holds it: just as good
            sock.bind(("127.0.0.1", DEFAULT_BASE_PORT - 1))
        yield


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_sollol_up_prints_ready_and_stops_everything_on_a_signal(tmp_path, stop, control_taken):
    """SIGINT is sent to a process started with SIGINT ignored, as a non-interactive shell
    starts a background job (`sollol up &` in a script): it must stop all the same."""
    port = free_port()
    fleet = tmp_path / "fleet.yaml"  # two nodes on free ports: `--sim 2` would take fixed ones
    fleet.write_text(yaml.safe_dump(make_profile([_sim_node("a"), _sim_node("b")])))
    cmd = [
        sys.executable,
        "-m",
        "sollol.cli",
        "up",
        "--sim-profile",
        str(fleet),
        "--port",
        str(port),
    ]
    if stop == signal.SIGINT:  # the shell sets SIGINT to ignored, exec keeps it so
        cmd = ["/bin/sh", "-c", 'trap "" INT; exec "$@"', "sh", *cmd]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "SOLLOL_HEARTBEAT_INTERVAL_S": "0.5"},
    )
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("SOLLOL gateway ready at"):
                break
            assert line or proc.poll() is None, "".join(lines)
        assert lines[-1].strip() == f"SOLLOL gateway ready at http://127.0.0.1:{port}", lines
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 5  # redis, sim, 2 workers, control, beat, gateway
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/generate",
            timeout=30,
            json={
                "model": "llama3.2",
                "prompt": "x",
                "stream": False,
                "options": {"num_predict": 2},
            },
        )
        assert r.status_code == 200
    finally:
        proc.send_signal(stop)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:  # did not stop: leave nothing behind, then fail
            for p in [*psutil.Process(proc.pid).children(recursive=True), proc]:
                p.kill()
            proc.communicate()
            raise
        finally:
            proc.stdout.close()
    assert proc.returncode == 0, out
    assert "SOLLOL stopped" in out

    def alive():
        return [c for c in children if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]

    try:
        wait_for(lambda: not alive(), 10, "every child process to exit")
    except AssertionError:
        pytest.fail(f"still running after sollol up stopped: {alive()}")
