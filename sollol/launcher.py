"""``sollol up``: the whole stack on one box, started, watched and stopped as one program.

Children, in start order: embedded redis-server (unless a Redis URL is given), simulated Ollama
nodes (``--sim``/``--sim-profile``), one Celery worker per host, a control worker for beat jobs,
Celery beat, the gateway under gunicorn (gevent), and Flower if asked. A worker that dies is
restarted (its unfinished messages come back to the queue); Ctrl-C or SIGTERM stops everything,
gateway first so no new work arrives, then workers (warm shutdown), beat, nodes and Redis.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sollol.children import spawn
from sollol.config import SOLLOLConfig, child_env
from sollol.embedded_redis import EmbeddedRedis
from sollol.hosts import HostSpec, parse_hosts, parse_hosts_file

__all__ = ["HostSpec", "Stack", "parse_hosts_file"]

READY_TIMEOUT_S = 90.0


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    restart: bool = False
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        out = self.log.open("ab")
        self.proc = spawn(
            self.argv,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        if not self.alive():
            return
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)


@dataclass
class Stack:
    """Everything ``sollol up`` runs; :meth:`start` returns once the gateway and hosts are ready."""

    cfg: SOLLOLConfig
    hosts: list[HostSpec] = field(default_factory=list)
    sim_profile: str | None = None
    sim_nodes: int = 0
    time_scale: float | None = None
    sim_control_port: int | None = None
    flower: bool = False
    flower_port: int = 5555
    # The gateway's Redis URL when it reaches the same server another way than the workers
    # (another network, a proxy); None = cfg.redis_url.
    gateway_redis_url: str | None = None
    log_dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sollol-up-")))
    out: Any = sys.stdout
    redis: EmbeddedRedis | None = None
    children: list[Child] = field(default_factory=list)
    stopping: bool = False

    # --- building blocks ----------------------------------------------------------------------
    def _spawn(
        self,
        name: str,
        argv: list[str],
        restart: bool = False,
        raw_env: dict[str, str] | None = None,
        **env: object,
    ) -> Child:
        """Start child ``name``; ``env`` are SOLLOL settings, ``raw_env`` plain variables."""
        environ = {**child_env(self.cfg, **env), **(raw_env or {})}
        child = Child(name, argv, environ, self.log_dir / f"{name}.log", restart)
        child.start()
        self.children.append(child)
        return child

    def _celery(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "sollol", *args]

    # --- start --------------------------------------------------------------------------------
    def start(self) -> None:
        self._ensure_admin_key()
        if not self.cfg.redis_url:
            self.redis = EmbeddedRedis().start()
            self.cfg = self.cfg.replace(redis_url=self.redis.url)
        if self.sim_profile or self.sim_nodes:
            self._start_sim()
        if not self.hosts and self.cfg.hosts:
            self.hosts = parse_hosts(self.cfg.hosts, slots=self.cfg.worker_slots)
        if not self.hosts:
            raise ValueError("no hosts: give --hosts FILE, --sim N or --sim-profile FILE")
        for h in self.hosts:
            self._spawn(
                f"worker-{h.name}",
                self._celery(
                    "worker",
                    "-Q",
                    h.name,
                    "-n",
                    f"{h.name}@%h",
                    "-P",
                    "threads",
                    "-c",
                    str(h.slots),
                    "--loglevel",
                    "WARNING",
                    "--without-mingle",
                    "--without-gossip",
                ),
                restart=True,
                ollama_url=h.url,
                worker_slots=h.slots,
                worker_vram_mb=h.vram_mb,
                worker_max_loaded_models=h.max_loaded_models,
                worker_tags=",".join(h.tags),
            )
        self._spawn(
            "control",
            self._celery(
                "worker",
                "-Q",
                "sollol",
                "-n",
                "control@%h",
                "-P",
                "threads",
                "-c",
                "2",
                "--loglevel",
                "WARNING",
                "--without-mingle",
                "--without-gossip",
            ),
            restart=True,
        )
        self._spawn(
            "beat",
            self._celery(
                "beat", "--loglevel", "WARNING", "-s", str(self.log_dir / "beat-schedule")
            ),
            restart=True,
        )
        gateway_redis = self.gateway_redis_url or self.cfg.redis_url
        self._spawn("gateway", gunicorn_argv(self.cfg), redis_url=gateway_redis)
        if self.flower:
            self._start_flower()
        self._wait_ready()

    def flower_address(self) -> str:
        return flower_address(self.cfg)

    def _start_flower(self) -> None:
        argv, env = flower_command(self.cfg, self.flower_port)
        self._spawn("flower", argv, restart=True, raw_env=env)

    def _start_sim(self) -> None:
        from sollol.sim_ports import free_control_port, with_free_ports

        notes: list[str] = []
        if self.sim_profile:  # a second `sollol up` on this box: taken ports are replaced
            self.sim_profile, notes = with_free_ports(self.sim_profile, self.log_dir)
        self.sim_control_port, note = free_control_port(self.sim_control_port)
        for line in [*notes, *([note] if note else [])]:
            print(line, file=self.out, flush=True)
        argv = [sys.executable, "-m", "sollol.sim"]
        if self.sim_profile:
            argv += ["--profile", self.sim_profile]
        else:
            argv += ["--nodes", str(self.sim_nodes)]
        if self.time_scale is not None:
            argv += ["--time-scale", str(self.time_scale)]
        if self.sim_control_port is not None:
            argv += ["--control-port", str(self.sim_control_port)]
        child = self._spawn("sim", argv)
        from sollol.sim.profile import load_profile, uniform_profile

        profile = (
            load_profile(self.sim_profile, time_scale=self.time_scale)
            if self.sim_profile
            else uniform_profile(self.sim_nodes, time_scale=self.time_scale or 1.0)
        )
        self._wait_log(child, "SOLLOL sim ready", 30)
        if self.cfg.time_scale == 1.0 and profile.time_scale != 1.0:
            # the router prices loads and token rates in the clock the simulated fleet runs on
            self.cfg = self.cfg.replace(time_scale=profile.time_scale)
        self.hosts = [
            HostSpec(n.name, n.url, n.num_parallel, int(n.vram_mb), n.max_loaded_models, n.tags)
            for n in profile.nodes
        ]

    def _wait_log(self, child: Child, marker: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if marker in child.log.read_text(errors="replace"):
                return
            if not child.alive():
                break
            time.sleep(0.1)
        raise RuntimeError(f"{child.name} did not start; its log:\n{_tail(child.log)}")

    def _get(self, path: str) -> Any:
        from sollol.state.keys import auth_headers

        host = "127.0.0.1" if self.cfg.bind in ("0.0.0.0", "") else self.cfg.bind
        req = urllib.request.Request(
            f"http://{host}:{self.cfg.port}{path}", headers=auth_headers(self.cfg)
        )
        with urllib.request.urlopen(req, timeout=2) as r:
            return json.loads(r.read())

    def _ensure_admin_key(self) -> None:
        """With keys required, the stack's own checks need an admin key: one per run unless
        SOLLOL_ADMIN_KEY gives one (children get it through their environment)."""
        from sollol.state.keys import auth_required, new_secret

        if auth_required(self.cfg) and not self.cfg.admin_key:
            self.cfg = self.cfg.replace(admin_key=new_secret())

    def _wait_ready(self) -> None:
        """Gateway answers /api/health with 200 and every host has reported healthy."""
        deadline = time.monotonic() + READY_TIMEOUT_S
        wanted = {h.name for h in self.hosts}
        while time.monotonic() < deadline:
            self._check_children()
            with contextlib.suppress(OSError, ValueError, urllib.error.URLError):
                self._get("/api/health")
                healthy = {
                    h["name"] for h in self._get("/api/fleet")["hosts"] if h["health"] == "healthy"
                }
                if wanted <= healthy:
                    return
            time.sleep(0.2)
        raise RuntimeError(
            f"the stack did not become ready in {READY_TIMEOUT_S:.0f} s; logs in {self.log_dir}"
        )

    def _check_children(self) -> None:
        for child in self.children:
            if not child.alive() and not child.restart:
                raise RuntimeError(
                    f"{child.name} exited during start-up; its log:\n{_tail(child.log)}"
                )

    # --- run and stop -------------------------------------------------------------------------
    def print_ready(self) -> None:
        fleet = self._get("/api/fleet")["hosts"]
        w = max(len(h["name"]) for h in fleet)
        print(f"{'HOST':<{w}}  {'OLLAMA':<24} {'SLOTS':>5}  {'STATE':<8} LOADED", file=self.out)
        for h in sorted(fleet, key=lambda x: x["name"]):
            print(
                f"{h['name']:<{w}}  {h['url']:<24} {h['slots']:>5}  {h['health']:<8} "
                f"{', '.join(h['loaded']) or '-'}",
                file=self.out,
            )
        if self.redis:
            print(f"embedded Redis at {self.cfg.redis_url} (stops with SOLLOL)", file=self.out)
        if self.flower:
            guarded = " (basic auth)" if self.cfg.flower_basic_auth else ""
            print(
                f"Flower at http://{self.flower_address()}:{self.flower_port}{guarded}",
                file=self.out,
            )
        print(f"logs in {self.log_dir}", file=self.out)
        print(
            f"SOLLOL gateway ready at http://{self.cfg.bind}:{self.cfg.port}",
            file=self.out,
            flush=True,
        )

    def supervise(self) -> None:
        """Until stopped: restart workers, beat and Flower when they die (with backoff)."""
        while not self.stopping:
            for child in self.children:
                if not self.stopping and child.restart and not child.alive():
                    child.restarts += 1
                    print(
                        f"{child.name} exited (code {child.proc.returncode if child.proc else '?'}); "
                        f"restarting",
                        file=self.out,
                        flush=True,
                    )
                    time.sleep(min(5.0, 0.5 * child.restarts))
                    child.start()
                elif not child.restart and not child.alive() and not self.stopping:
                    raise RuntimeError(f"{child.name} exited; its log:\n{_tail(child.log)}")
            time.sleep(0.5)

    def stop(self) -> None:
        self.stopping = True
        order = ["gateway", "flower", "beat", "control"]
        ranked = sorted(
            self.children,
            key=lambda c: (
                order.index(c.name)
                if c.name in order
                else (len(order) if c.name.startswith("worker-") else len(order) + 1)
            ),
        )
        for child in ranked:
            child.stop()
        if self.redis is not None:
            self.redis.close()
            self.redis = None

    def reconfigure(self, cfg: SOLLOLConfig, restart: tuple[str, ...] = ("beat",)) -> None:
        """Use ``cfg`` from now on and restart the named children with it (beat reads its
        schedule only when it starts)."""
        self.cfg = cfg.replace(redis_url=self.cfg.redis_url) if self.redis else cfg
        for child in self.children:
            if child.name in restart:
                child.stop()
                child.env = child_env(self.cfg)
                child.start()

    def cleanup_logs(self) -> None:
        shutil.rmtree(self.log_dir, ignore_errors=True)


def gunicorn_argv(cfg: SOLLOLConfig) -> list[str]:
    """The gunicorn command line of the gateway. Under gevent (the default) an open request is
    a greenlet, so one process holds ``gateway_connections`` streams and queued calls at once;
    under gthread it is a thread, ``gateway_threads`` of them."""
    if cfg.gateway_worker_class == "gevent":
        concurrency = ["--worker-connections", str(cfg.gateway_connections)]
    else:
        concurrency = ["--threads", str(cfg.gateway_threads)]
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "sollol.api.wsgi:app",
        "--config",  # metrics across worker processes and on metrics_port
        "python:sollol.api.gunicorn_conf",
        "--bind",
        f"{cfg.bind}:{cfg.port}",
        "--worker-class",
        cfg.gateway_worker_class,
        *concurrency,
        "--workers",
        str(cfg.gateway_workers),
        "--timeout",
        "120",
        "--graceful-timeout",
        "10",
        "--keep-alive",
        "5",
        "--log-level",
        "warning",
    ]


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def flower_address(cfg: SOLLOLConfig) -> str:
    """Flower listens where the gateway does, but on loopback unless the gateway is public."""
    from sollol.state.keys import is_loopback

    return "127.0.0.1" if is_loopback(cfg.bind) else cfg.bind


def flower_command(cfg: SOLLOLConfig, port: int) -> tuple[list[str], dict[str, str]]:
    """Flower's argv and extra environment, behind HTTP basic auth when
    SOLLOL_FLOWER_BASIC_AUTH=user:password[,user2:pw2] is set. Off loopback it is required:
    Flower can inspect and revoke every task. The password travels by environment
    (FLOWER_BASIC_AUTH), not argv, where ``ps`` would show it."""
    address, auth = flower_address(cfg), cfg.flower_basic_auth
    if address != "127.0.0.1" and not auth:
        raise ValueError(
            f"Flower would listen on {address} with no password: set "
            "SOLLOL_FLOWER_BASIC_AUTH=user:password (or bind to 127.0.0.1)"
        )
    if auth and any(":" not in pair for pair in auth.split(",")):
        raise ValueError("SOLLOL_FLOWER_BASIC_AUTH must be user:password[,user2:password2]")
    argv = [sys.executable, "-m", "celery", "-A", "sollol", "flower"]
    argv += [f"--address={address}", f"--port={port}"]
    return argv, ({"FLOWER_BASIC_AUTH": auth} if auth else {})
