"""Container health checks, one per role: ``python -m sollol.probe [auto|gateway|worker HOST|...]``.

Exit status 0 = healthy, 1 = not (the message says why). One image runs every role, so the
image's HEALTHCHECK runs ``auto``, which reads the role from the container's main command
(``/proc/1/cmdline``): ``sollol gateway`` → gateway, ``celery ... worker -Q sollol`` → control,
``celery ... worker -Q gpu-a`` → worker gpu-a, ``celery ... beat`` → beat, ``celery ... flower``
→ flower, ``sollol sim`` → sim.

    gateway      /api/health answers 200 on SOLLOL_PORT
    worker HOST  the host's heartbeat lease is in Redis (the worker renews it every
                 heartbeat_interval_s while it runs)
    control      ``celery inspect ping`` answers from this container's control worker
    beat         a health round ran lately: some host answered a check within 4 intervals
                 (beat schedules the rounds; with no hosts registered yet, Redis answering)
    flower       Flower's /healthcheck answers
    sim          the first simulated node answers /api/version
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sollol.config import SOLLOLConfig, load_config

__all__ = ["main", "probe", "role_of"]

ROLES = ("gateway", "worker", "control", "beat", "flower", "sim")


def role_of(argv: Sequence[str]) -> tuple[str, str]:
    """(role, host) from a container's main command line; ("", "") when it is none of them."""
    args = [Path(a).name if i == 0 else a for i, a in enumerate(argv)]
    if "gateway" in args or any("gunicorn" in a for a in args):
        return "gateway", ""
    if "sim" in args or "sollol.sim" in args:
        return "sim", ""
    for role in ("beat", "flower"):
        if role in args:
            return role, ""
    if "worker" in args:
        queue = args[args.index("-Q") + 1] if "-Q" in args[:-1] else ""
        if queue in ("", "sollol"):
            return "control", ""
        return "worker", queue
    return "", ""


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as r:
            return bool(r.status == 200)
    except OSError:
        return False


def _redis(cfg: SOLLOLConfig) -> Any:
    from sollol.state.connection import connect

    return connect(cfg, socket_timeout=3)


def _beat_ok(cfg: SOLLOLConfig, client: Any) -> tuple[bool, str]:
    client.ping()
    keys = list(client.scan_iter(cfg.key("health", "*"), count=100))
    if not keys:
        return True, "no host registered yet; Redis answers"
    newest = max(float(client.hget(k, "checked_at") or 0) for k in keys)
    age = time.time() - newest
    ok = age < 4 * cfg.health_check_interval_s + 10
    return ok, f"last health check answered {age:.0f} s ago"


def probe(
    role: str, host: str = "", cfg: SOLLOLConfig | None = None, client: Any = None
) -> tuple[bool, str]:
    """Check one role; returns (healthy, what was seen). ``client``: a Redis client to use."""
    cfg = cfg or load_config()
    if role in ("worker", "beat") and client is None:
        client = _redis(cfg)
    local = "127.0.0.1"
    if role == "gateway":
        ok = _http_ok(f"http://{local}:{cfg.port}/api/health")
        return ok, f"/api/health on :{cfg.port} {'answers' if ok else 'does not answer 200'}"
    if role == "worker":
        alive = bool(client.exists(cfg.key("alive", host)))
        return alive, f"heartbeat of {host} {'present' if alive else 'missing'} in Redis"
    if role == "control":
        argv = [sys.executable, "-m", "celery", "-A", "sollol", "inspect", "ping"]
        argv += ["-d", f"control@{socket.gethostname()}", "--timeout", "3"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
        return done.returncode == 0, (done.stdout or done.stderr).strip()[-200:]
    if role == "beat":
        return _beat_ok(cfg, client)
    if role == "flower":
        ok = _http_ok(f"http://{local}:5555/healthcheck")
        return ok, f"Flower {'answers' if ok else 'does not answer'}"
    if role == "sim":
        ok = _http_ok(f"http://{local}:11501/api/version")
        return ok, f"simulated node {'answers' if ok else 'does not answer'}"
    raise ValueError(f"unknown role {role!r}; one of {', '.join(ROLES)} or auto")


def _main_command() -> list[str]:
    raw = Path("/proc/1/cmdline").read_bytes()
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv) or ["auto"]
    role, host = (args[0], args[1] if len(args) > 1 else "")
    if role == "auto":
        role, host = role_of(_main_command())
        if not role:
            print("sollol.probe: not a SOLLOL role; nothing to check")
            return 0
    try:
        ok, seen = probe(role, host)
    except Exception as exc:  # Redis away, a timeout…: unhealthy, and say why
        ok, seen = False, f"{type(exc).__name__}: {exc}"
    print(f"{role}{' ' + host if host else ''}: {'healthy' if ok else 'UNHEALTHY'} ({seen})")
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
