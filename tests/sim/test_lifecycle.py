"""Starting and stopping: nothing left listening or running; the ``sollol sim`` command line."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import aiohttp
import httpx
import psutil
import pytest

from sollol.sim import AsyncSimFleet, SimFleet, load_profile, uniform_profile
from sollol.sim.cli import build_parser, main
from tests.sim.conftest import make_profile, node, start_reading

ROOT = Path(__file__).resolve().parents[2]


def _listening_ports() -> set[int]:
    conns = psutil.Process().net_connections(kind="tcp")
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


# the client's own socket of the stream cut by stop() may be collected late; what this test
# checks — listeners, threads, refused connections — it asserts itself
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_stopping_the_fleet_leaves_no_sockets_or_threads_behind():
    threads_before = set(threading.enumerate())
    fleet = SimFleet(make_profile([node("a"), node("b")]), control_port=0).start()
    ports = {int(u.rsplit(":", 1)[1]) for u in fleet.urls.values()}
    control = int(str(fleet.control_url).rsplit(":", 1)[1])
    assert ports | {control} <= _listening_ports()
    with httpx.stream(
        "POST",
        fleet.urls["a"] + "/api/generate",
        json={"model": "llama3.2", "prompt": "x", "options": {"num_predict": 1_000_000}},
    ) as r:
        _held = start_reading(r)  # a stream in flight while stopping
        fleet.stop()
    assert not (ports | {control}) & _listening_ports()
    assert set(threading.enumerate()) <= threads_before
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=1)
    fleet.stop()  # idempotent


def test_a_port_in_use_fails_start_cleanly():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        profile = uniform_profile(1, base_port=port, time_scale=0.1)
        threads_before = set(threading.enumerate())
        with pytest.raises(OSError):
            SimFleet(profile).start()
        assert set(threading.enumerate()) <= threads_before


def _free_port_pair() -> int:
    """A port P with P and P+1 free (the CLI puts node 0 on P, node 1 on P+1, control on P-1)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        try:
            for port in (base - 1, base + 1):
                with socket.socket() as probe:
                    probe.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise RuntimeError("no free port pair")


def test_cli_prints_the_table_then_ready_and_exits_0_on_sigterm():
    base = _free_port_pair()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sollol.sim",
            "--nodes",
            "2",
            "--base-port",
            str(base),
            "--time-scale",
            "0.05",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("SOLLOL sim ready") or not line:
                break
        assert lines[-1].strip() == "SOLLOL sim ready: 2 nodes", "".join(lines) + proc.stderr.read()
        assert lines[0].split()[:4] == ["NODE", "URL", "LOADED", "MODELS"]
        assert f"http://127.0.0.1:{base + 1}" in lines[2] and "llama3.2:latest" in lines[2]
        assert httpx.get(f"http://127.0.0.1:{base}/").text == "Ollama is running"
        assert httpx.get(f"http://127.0.0.1:{base - 1}/nodes").json()["nodes"][1]["name"] == "sim-1"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_cli_rejects_a_missing_profile(capsys):
    assert main(["--profile", "/no/such/profile.yaml"]) == 2
    assert "no such profile file" in capsys.readouterr().err


def test_cli_parser_accepts_the_compose_command():
    args = build_parser().parse_args(["--profile", "deploy/sim/mixed.yaml", "--host", "0.0.0.0"])
    assert args.profile == "deploy/sim/mixed.yaml" and args.host == "0.0.0.0"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--nodes", "2", "--profile", "x.yaml"])


@pytest.mark.parametrize("path", sorted((ROOT / "deploy" / "sim").glob("*.yaml")))
def test_shipped_profiles_start(path: Path):
    profile = load_profile(path, time_scale=0.01)
    profile = dataclasses.replace(
        profile, nodes=tuple(dataclasses.replace(n, port=0) for n in profile.nodes)
    )
    with SimFleet(profile) as fleet:
        for name, url in fleet.urls.items():
            tags = httpx.get(url + "/api/tags").json()["models"]
            assert {m["name"] for m in tags} == set(profile.node(name).models)


def test_the_default_control_port_is_skipped_when_taken(capsys):
    from sollol.sim.cli import _control_port

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = build_parser().parse_args(["--base-port", str(port + 1)])
        assert _control_port(args) is None
    assert "running without a control server" in capsys.readouterr().err
    assert _control_port(build_parser().parse_args(["--control-port", "-1"])) is None


def test_the_async_fleet_runs_inside_the_callers_event_loop():
    async def scenario() -> str:
        stop = asyncio.Event()
        fleet = AsyncSimFleet(make_profile([node("a")]))
        ready = asyncio.Event()
        task = asyncio.create_task(fleet.run(stop, on_ready=lambda _: ready.set()))
        await ready.wait()
        async with aiohttp.ClientSession() as session, session.get(fleet.urls["a"]) as r:
            text = await r.text()
        stop.set()
        await task
        return text

    assert asyncio.run(scenario()) == "Ollama is running"
