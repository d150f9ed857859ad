"""Ports for the simulated fleet that ``sollol up --sim-profile`` starts: a profile's ports (given,
or base-port + index) and the sim's control port (base-port - 1) are used when free; one already
taken — a second ``sollol up`` on the same box — is replaced by a free port, and the launcher
prints every replacement. The profile file itself is never changed: a copy with the ports used
is written next to the run's logs.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

from sollol.embedded_redis import free_port
from sollol.sim.profile import DEFAULT_BASE_PORT, load_profile

__all__ = ["can_bind", "free_control_port", "with_free_ports"]


def can_bind(port: int, host: str = "127.0.0.1") -> bool:
    """Is ``port`` free to listen on at ``host`` right now?"""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def with_free_ports(path: str, out_dir: Path) -> tuple[str, list[str]]:
    """The profile to run (``path`` itself when all its ports are free, else a copy in
    ``out_dir`` with taken ports replaced) and one line per replaced port."""
    profile = load_profile(path)
    raw: Any = yaml.safe_load(Path(path).read_text()) or {}
    moved: list[str] = []
    for i, node in enumerate(profile.nodes):
        if can_bind(node.port):
            continue
        port = free_port()
        raw["nodes"][i]["port"] = port
        moved.append(f"sim node {node.name}: port {node.port} is taken, using {port}")
    if not moved:
        return path, moved
    copy = out_dir / "sim-profile.yaml"
    copy.write_text(yaml.safe_dump(raw, sort_keys=False))
    return str(copy), moved


def free_control_port(preferred: int | None) -> tuple[int, str | None]:
    """The sim's control port: ``preferred`` (default base-port - 1) if free, else a free one,
    with a line saying so."""
    port = DEFAULT_BASE_PORT - 1 if preferred is None else preferred
    if can_bind(port):
        return port, None
    chosen = free_port()
    return chosen, f"sim control port {port} is taken, using {chosen}"
