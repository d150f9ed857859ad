"""The original README's examples run here, unchanged in spirit, against the demo fleet (the
simulated nodes of deploy/sim/mixed.yaml, on free ports), and leave nothing running."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import yaml

from sollol.embedded_redis import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_profile(tmp_path):
    """deploy/sim/mixed.yaml with every node on a free port."""
    profile = yaml.safe_load((ROOT / "deploy/sim/mixed.yaml").read_text())
    for node in profile["nodes"]:
        node["port"] = free_port()
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(profile))
    return path


def _run(script: str, profile: Path, *args: str) -> str:
    port = free_port()
    argv = [sys.executable, str(ROOT / "examples" / script), *args]
    argv += ["--profile", str(profile), "--time-scale", "0.05", "--port", str(port)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(profile) in " ".join(p.info["cmdline"] or [])
    ]
    assert not left, left  # the simulated fleet (and everything else) was stopped
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not a listener
        s.bind(("127.0.0.1", port))  # nothing listens on the gateway's port any more
    return out


def test_basic_usage(demo_profile):
    out = _run("basic_usage.py", demo_profile)
    assert "ray_workers=4 has no effect" in out  # accepted, and said why
    assert out.count("Running: True") == 1 and "Running: False" in out
    assert "routed to gpu-" in out or "routed to cpu-" in out
    assert "embedding of 768 dimensions" in out
    assert "applied live: {'strategy': 'least_connections', 'autobatch_interval_s': 45}" in out
    assert "health: ok" in out


def test_application_integration(demo_profile):
    out = _run("application_integration.py", demo_profile)
    for agent in ("researcher", "coder", "summarizer"):
        assert out.count(f"{agent} ") >= 2, out  # every agent was answered in both rounds
    assert "workers: 4" in out and "SOLLOL stopped with the app" in out
    assert "learned " in out


@pytest.mark.parametrize("mode", ["machine1", "gpu-heavy", "low-latency"])
def test_multi_machine_setup_modes(demo_profile, mode):
    out = _run("multi_machine_setup.py", demo_profile, mode)
    assert f"mode {mode}:" in out and out.count("routed to ") == 3 and "health: ok" in out
    if mode == "machine1":
        assert "celery -A sollol worker -Q gpu-a" in out


def test_multi_machine_setup_prints_what_a_gpu_box_runs():
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "multi_machine_setup.py"), "gpu-box"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "SOLLOL_REDIS_URL" in done.stdout and "pip install sollol" not in done.stdout
