"""Picking ports: ``sollol status`` finds the gateway on SOLLOL_PORT, ``make run PORT=N`` starts it
there, and a second ``sollol up --sim-profile`` on one box replaces the sim ports already taken."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import yaml

from sollol.cli import main
from sollol.sim.profile import load_profile
from sollol.sim_ports import can_bind, free_control_port, with_free_ports

ROOT = Path(__file__).resolve().parents[2]
FLEET = {
    "strategy": "performance",
    "hosts": [
        {
            "name": "gpu-a",
            "health": "healthy",
            "running": 1,
            "queued": [0] * 10,
            "loaded": ["llama3.2:latest"],
        }
    ],
}


class _Fleet(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(FLEET).encode()
        self.send_response(200 if self.path == "/api/fleet" else 404)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def test_status_reads_the_gateway_on_sollol_port(monkeypatch, capsys):
    server = HTTPServer(("127.0.0.1", 0), _Fleet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("SOLLOL_PORT", str(server.server_address[1]))
        assert main(["status"]) == 0
    finally:
        server.shutdown()
        server.server_close()
    out = capsys.readouterr().out
    assert "gpu-a" in out and "healthy" in out


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_run_takes_the_port_from_port():
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "run", "PORT=9123"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    # under `make test` the outer make's variables reach this one; the run line is what counts
    up = [line for line in dry.stdout.splitlines() if "sollol up" in line]
    assert up and "--port 9123" in up[-1], dry.stdout


def test_taken_sim_ports_are_replaced_in_a_copy_of_the_profile(tmp_path):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        free = socket.socket()
        free.bind(("127.0.0.1", 0))
        free_port_number = free.getsockname()[1]
        free.close()
        path = tmp_path / "fleet.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "nodes": [
                        {"name": "gpu-a", "port": taken, "models": {"llama3.2": {}}},
                        {"name": "gpu-b", "port": free_port_number, "models": {"llama3.2": {}}},
                    ]
                }
            )
        )
        used, notes = with_free_ports(str(path), tmp_path)
        ports = {n.name: n.port for n in load_profile(used).nodes}
    assert used != str(path) and yaml.safe_load(path.read_text())["nodes"][0]["port"] == taken
    assert ports["gpu-a"] != taken and ports["gpu-b"] == free_port_number
    assert notes == [f"sim node gpu-a: port {taken} is taken, using {ports['gpu-a']}"]


def test_a_profile_whose_ports_are_free_is_used_as_is(tmp_path):
    path = tmp_path / "fleet.yaml"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path.write_text(
        yaml.safe_dump({"nodes": [{"name": "gpu-a", "port": port, "models": {"m": {}}}]})
    )
    assert with_free_ports(str(path), tmp_path) == (str(path), [])


def test_a_taken_control_port_is_replaced_and_said():
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        port, note = free_control_port(taken)
    assert port != taken and can_bind(port)
    assert note == f"sim control port {taken} is taken, using {port}"
