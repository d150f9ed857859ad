"""SOLLOL inside another Python application: ``from sollol import SOLLOL, SOLLOLConfig``.

The original SOLLOL's programmatic API, on this SOLLOL's stack::

    sollol = SOLLOL(SOLLOLConfig(hosts=["127.0.0.1:11434", "10.0.0.2:11434"]))
    sollol.start(blocking=False)      # Redis (embedded unless redis_url), workers, beat, gateway
    sollol.get_status()["running"]    # True
    sollol.update_config(routing_strategy="round_robin")   # live, for every gateway
    sollol.stop()                     # every process it started

or ``with SOLLOL(config) as sollol: ...``. Without ``start()`` the same object answers
"where would this request go, and why" (:meth:`SOLLOL.route`) for a fleet that runs elsewhere.
"""

from __future__ import annotations

import atexit
import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO

from sollol.compat import original_view, to_native
from sollol.config import SOLLOLConfig, load_config

__all__ = ["SOLLOL"]

log = logging.getLogger("sollol")


class SOLLOL:
    """One SOLLOL deployment as seen from code: start and stop it, watch it, reconfigure it.

    ``config`` is a :class:`SOLLOLConfig` (the original SOLLOL's field names work);
    ``overrides`` are more settings by name. ``sim_profile`` / ``sim_nodes`` run a simulated
    Ollama fleet instead of real hosts (demos and tests); ``out`` receives the start-up table.
    """

    def __init__(
        self,
        config: SOLLOLConfig | None = None,
        *,
        sim_profile: str | Path | None = None,
        sim_nodes: int = 0,
        time_scale: float | None = None,
        out: TextIO | None = None,
        **overrides: Any,
    ) -> None:
        self.config = config.replace(**overrides) if config else load_config(**overrides)
        self.sim_profile = str(sim_profile) if sim_profile else None
        self.sim_nodes = sim_nodes
        self.time_scale = time_scale
        self.out = out
        self._stack: Any = None
        self._supervisor: threading.Thread | None = None
        self._redis: Any = None

    # --- lifecycle ------------------------------------------------------------------------------
    def start(self, blocking: bool = False) -> None:
        """Run the whole stack like ``sollol up``; return once the gateway and every host answer.

        ``blocking=True`` then serves until Ctrl-C (KeyboardInterrupt) and stops everything.
        Raises RuntimeError when the stack does not come up (it is stopped again first).
        """
        import sys

        from sollol.launcher import Stack

        if self.running:
            raise RuntimeError(f"SOLLOL is already running at {self.gateway_url}")
        stack = Stack(
            self.config,
            sim_profile=self.sim_profile,
            sim_nodes=self.sim_nodes,
            time_scale=self.time_scale,
            out=self.out or sys.stdout,
        )
        self._stack, self._redis = stack, None
        atexit.register(self.stop)
        try:
            stack.start()
            stack.print_ready()
        except BaseException:
            self.stop()
            raise
        if blocking:
            self._serve_forever()
        else:
            self._supervisor = threading.Thread(
                target=self._supervise, name="sollol-supervisor", daemon=True
            )
            self._supervisor.start()

    def _supervise(self) -> None:
        try:
            self._stack.supervise()
        except RuntimeError as exc:  # the gateway itself died: report it, keep the rest
            log.error("sollol: %s", exc)

    def _serve_forever(self) -> None:
        try:
            self._stack.supervise()
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def stop(self) -> None:
        """Stop every process :meth:`start` started (gateway first); a no-op when not running."""
        stack, self._stack = self._stack, None
        if stack is None:
            return
        stack.stopping = True  # the supervisor restarts nothing from now on
        if self._supervisor is not None:
            self._supervisor.join(timeout=10)
            self._supervisor = None
        stack.stop()
        self._redis = None
        atexit.unregister(self.stop)

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and :meth:`stop`."""
        return self._stack is not None and not self._stack.stopping

    @property
    def gateway_url(self) -> str:
        """Where clients connect: ``http://HOST:PORT``."""
        cfg = self._runtime_config
        host = "127.0.0.1" if cfg.bind in ("0.0.0.0", "", "::") else cfg.bind
        return f"http://{host}:{cfg.port}"

    def __enter__(self) -> SOLLOL:
        if not self.running:
            self.start(blocking=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # --- watching -------------------------------------------------------------------------------
    def _cfg_for_auth(self) -> SOLLOLConfig:
        """The settings holding the admin key for our own calls (the running stack's, if any)."""
        return self._stack.cfg if self._stack is not None else self.config

    def _get(self, path: str, timeout_s: float = 5.0) -> Any:
        from sollol.state.keys import auth_headers

        req = urllib.request.Request(
            self.gateway_url + path, headers=auth_headers(self._cfg_for_auth())
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:  # /api/health answers 503 with a JSON reason
            return json.loads(exc.read() or b"{}")

    def get_status(self) -> dict[str, Any]:
        """``running``, ``gateway_url``, Redis, the processes started, and the hosts' states."""
        status: dict[str, Any] = {
            "running": self.running,
            "gateway_url": self.gateway_url,
            "redis_url": self._runtime_config.redis_url,
            "embedded_redis": bool(self._stack and self._stack.redis),
            "strategy": self._runtime_config.strategy,
            "config": original_view(self.config),
            "processes": {},
            "workers": 0,
            "hosts": [],
        }
        if self._stack is not None:
            procs = {c.name: c.proc.pid for c in self._stack.children if c.alive() and c.proc}
            status["processes"] = procs
            status["workers"] = sum(1 for name in procs if name.startswith("worker-"))
        if self.running:
            try:
                fleet = self._get("/api/fleet")
                status["strategy"] = fleet["strategy"]
                status["hosts"] = [
                    {k: h[k] for k in ("name", "url", "health", "slots", "loaded", "running")}
                    for h in fleet["hosts"]
                ]
            except (OSError, ValueError, KeyError) as exc:
                status["error"] = f"gateway not answering: {exc}"
        return status

    def get_health(self) -> dict[str, Any]:
        """The gateway's ``/api/health`` (Redis reachable, healthy and total hosts)."""
        try:
            body: dict[str, Any] = self._get("/api/health")
        except (OSError, ValueError) as exc:
            return {"status": "unreachable", "error": str(exc)}
        return body

    def get_stats(self) -> dict[str, Any]:
        """The gateway's ``/api/stats``: per-host performance, learned patterns, decision mix."""
        stats: dict[str, Any] = self._get("/api/stats")
        return stats

    # --- reconfiguring --------------------------------------------------------------------------
    def update_config(self, **changes: Any) -> dict[str, Any]:
        """Change settings (the original's names work); apply live what can be applied live.

        Live settings (:data:`sollol.state.overrides.LIVE`: strategy, retries, timeouts, health,
        metrics and autobatch intervals) are written to Redis, where every gateway picks them up
        within a second; beat is restarted for the intervals it schedules. The others are kept
        for the next :meth:`start` and listed under ``restart_required``, with a warning.
        Returns ``{"applied": {...}, "restart_required": {...}, "ignored": [...]}`` (this
        SOLLOL's setting names; ``ignored``: the original's names that mean nothing here).
        """
        from sollol.compat import IGNORED
        from sollol.state.overrides import BEAT_SCHEDULE, LIVE, write_overrides

        ignored = sorted(set(changes) & set(IGNORED))
        native = to_native(changes)
        new_config = self.config.replace(**native)  # validates every value first
        changed = {
            k: v for k, v in native.items() if getattr(self.config, k) != getattr(new_config, k)
        }
        live = {k: getattr(new_config, k) for k in changed if k in LIVE}
        later = {k: getattr(new_config, k) for k in changed if k not in LIVE}
        self.config = new_config
        if not self.running:
            return {"applied": {**live, **later}, "restart_required": {}, "ignored": ignored}
        write_overrides(self.redis, self._stack.cfg, live)
        if BEAT_SCHEDULE & set(live):
            self._stack.reconfigure(self._stack.cfg.replace(**live), restart=("beat",))
        if later:
            log.warning("sollol: %s take effect after stop() and start()", ", ".join(sorted(later)))
        return {"applied": live, "restart_required": later, "ignored": ignored}

    # --- the fleet from code --------------------------------------------------------------------
    @property
    def _runtime_config(self) -> SOLLOLConfig:
        cfg: SOLLOLConfig = self._stack.cfg if self._stack is not None else self.config
        return cfg

    @property
    def redis(self) -> Any:
        """A Redis client for this deployment's Redis (the embedded one while running)."""
        if self._redis is None:
            from sollol.state.connection import connect

            self._redis = connect(self._runtime_config)
        return self._redis

    def app(self) -> Any:
        """The Flask gateway (WSGI) for this configuration, to mount or serve yourself."""
        from sollol.api import create_app

        return create_app(self._runtime_config)

    def celery(self) -> Any:
        """The Celery app workers, beat and Flower use for this configuration."""
        from sollol.workers.celery_app import make_celery

        return make_celery(self._runtime_config)

    def fleet(self) -> Any:
        """The fleet as the router sees it right now (a router FleetSnapshot)."""
        from sollol.state.snapshot import read_fleet, read_output_tokens, snapshot_of

        now = time.time()
        cfg = self._runtime_config
        return snapshot_of(
            read_fleet(self.redis, cfg, now), now, read_output_tokens(self.redis, cfg)
        )

    def embed_batch(
        self, docs: Any, model: str | None = None, priority: int | None = None, **kw: Any
    ) -> list[list[float] | None]:
        """Embed ``docs`` (strings or ``{"id", "text", "metadata"}``) across the fleet as one
        batch job and return the vectors in input order (sollol.batch_client)."""
        from sollol.batch_client import embed_batch

        cfg = self._runtime_config
        return embed_batch(self.redis, cfg, self.celery(), docs, model, priority, **kw)

    def route(
        self,
        endpoint: str,
        body: dict[str, Any],
        priority: int | None = None,
        strategy: str | None = None,
    ) -> Any:
        """The routing Decision for a native request body, without sending it."""
        from sollol.router import Router, Tuning, analyse_request

        profile = analyse_request(endpoint, body, priority or self.config.default_priority)
        tuning = Tuning().scaled(self.config.time_scale)
        router = Router(strategy or self.config.strategy, rng=random.Random(), tuning=tuning)
        return router.route(profile, self.fleet())
