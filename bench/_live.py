"""Shared helpers of the live-stack benchmarks (bench/fleet.py, bench/chaos.py).

A live stack is exactly what ``sollol up --sim-profile`` runs (``sollol.launcher.Stack``): an
embedded redis-server, the simulated Ollama nodes in one subprocess, one Celery worker per node,
the control worker, beat and the gunicorn gateway, with a supervisor thread that restarts dead
workers. The helpers here start and stop one, talk to its gateway and to the simulator's control
server, send one request and record what the client saw, measure CPU use of the machine, and
format percentiles and markdown tables.

Units: seconds (``_s``) of wall-clock time unless a name says otherwise; the simulator runs every
delay ``time_scale`` times faster than the profile says, so a wall-clock duration divided by
``time_scale`` is the duration on the fleet the profile describes ("real" seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from sollol.config import load_config
from sollol.embedded_redis import free_port
from sollol.launcher import Child, Stack

ROOT = Path(__file__).resolve().parent.parent

__all__ = [
    "ROOT",
    "CallResult",
    "CpuMeter",
    "LiveStack",
    "call",
    "doc_parser",
    "md_table",
    "pct",
    "profile_copy",
    "scaled_settings",
    "session_cpu_seconds",
    "temp_dir",
]


# --- stack ------------------------------------------------------------------------------------
def profile_copy(src: str | Path, time_scale: float, out_dir: Path) -> Path:
    """A copy of fleet profile ``src`` with free loopback ports and ``time_scale``.

    The shipped profiles pin ports (11501…); other people's tests and benchmarks may run on this
    machine at the same time, so every node gets a port the OS says is free right now."""
    data = yaml.safe_load(Path(src).read_text(encoding="utf-8"))
    data["time_scale"] = time_scale
    for node in data["nodes"]:
        node["port"] = free_port()
    out = out_dir / Path(src).name
    out.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return out


def scaled_settings(time_scale: float) -> dict[str, Any]:
    """SOLLOL settings for a stack whose nodes run ``time_scale`` times faster than real.

    Periods that shape routing (snapshot cache, heartbeats that publish resident models, queue
    aging) are multiplied by ``time_scale`` so that, measured in the fleet's own time, the router
    sees the fleet as freshly as with the defaults (250 ms cache, 2 s heartbeat, 10 s aging step),
    which is also what bench/policy.py models. Floors keep the control plane affordable on 2 cores.
    ``time_scale`` itself reaches the router (``Tuning.scaled``): its built-in seconds (default
    load time, cold-load and eviction penalties) are fleet seconds, and without it a cold load
    looked 1/time_scale times dearer than queueing, so requests piled onto the first host that
    had loaded a model (bench/RESULTS.md section 2).
    Fault-handling periods use the integration tests' fast values (tests/integration/conftest.py).
    """
    return {
        "time_scale": time_scale,
        "snapshot_cache_ms": max(25.0, 250.0 * time_scale),
        "heartbeat_interval_s": max(0.25, 2.0 * time_scale),
        "heartbeat_ttl_s": 3.0,
        "aging_interval_s": max(0.25, 2.0 * time_scale),
        "aging_step_s": max(0.5, 10.0 * time_scale),
        "visibility_timeout_s": 6,
        "unacked_restore_interval_s": 1.0,
        "idle_chunk_timeout_s": 10.0,
        "health_check_interval_s": 1.0,
        "reroute_interval_s": 1.0,
        "metrics_refresh_interval_s": 1.0,
    }


@dataclass
class LiveStack:
    """One live SOLLOL stack on a simulated fleet; a context manager that always cleans up.

    ``settings`` are SOLLOLConfig fields (see sollol/config.py)."""

    profile: Path
    strategy: str
    time_scale: float
    settings: dict[str, Any] = field(default_factory=dict)
    keep_logs: bool = False  # leave the children's logs on disk (their directory is printed)
    out: Any = None  # where the supervisor reports restarts (default: stderr)
    stack: Stack | None = None
    url: str = ""
    control_url: str = ""
    client: httpx.Client | None = None

    def __enter__(self) -> LiveStack:
        cfg = load_config(env={}, port=free_port(), strategy=self.strategy, **self.settings)
        control = free_port()
        self.stack = Stack(
            cfg,
            sim_profile=str(self.profile),
            time_scale=self.time_scale,
            sim_control_port=control,
            out=self.out or sys.stderr,
        )
        try:
            self.stack.start()
        except Exception:
            self._print_logs()
            self.stack.stop()
            raise
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        self.url = f"http://127.0.0.1:{cfg.port}"
        self.control_url = f"http://127.0.0.1:{control}"
        # no pool limit: an open-loop load generator must never wait for a free connection
        self.client = httpx.Client(
            timeout=30.0, limits=httpx.Limits(max_connections=None, max_keepalive_connections=512)
        )
        return self

    def _supervise(self) -> None:
        """Stack.supervise, as ``sollol up`` runs it; a non-restartable child dying is reported."""
        assert self.stack is not None
        try:
            self.stack.supervise()
        except RuntimeError as exc:
            print(f"supervisor: {str(exc).splitlines()[0]}", flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.client is not None:
            self.client.close()
        if self.stack is not None:
            self.stack.stop()
            if self.keep_logs:
                print(f"logs kept in {self.stack.log_dir}", file=sys.stderr, flush=True)
            else:
                self.stack.cleanup_logs()

    def _print_logs(self) -> None:
        """The tail of every child's log (called when the stack fails to start)."""
        assert self.stack is not None
        for log in sorted(Path(self.stack.log_dir).glob("*.log")):
            tail = log.read_text(errors="replace").splitlines()[-15:]
            print(f"--- {log.name}\n" + "\n".join(tail), flush=True)

    # --- observation and control -------------------------------------------------------------
    def get(self, path: str) -> Any:
        """GET a gateway path (``/api/fleet``…) as JSON."""
        assert self.client is not None
        return self.client.get(self.url + path).json()

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call to the simulator's control server (reachable while a node is down)."""
        assert self.client is not None
        r = self.client.request(method, self.control_url + path, json=body)
        return r.json()

    def nodes(self) -> dict[str, dict[str, Any]]:
        """Every simulated node's state (``GET /nodes``), by name."""
        return {n["name"]: n for n in self.control("GET", "/nodes")["nodes"]}

    def ledger(self) -> dict[str, Any]:
        """The simulator's request ledger: per request id, times received and completed."""
        return self.control("GET", "/requests")  # type: ignore[no-any-return]

    def fault(self, node: str, mode: str, duration_s: float | None = None) -> None:
        body: dict[str, Any] = {"mode": mode}
        if duration_s is not None:
            body["duration_s"] = duration_s
        self.control("POST", f"/nodes/{node}/fault", body)

    def recover(self, node: str) -> None:
        self.control("POST", f"/nodes/{node}/recover", {})

    def child(self, name: str) -> Child:
        """The launcher's child process called ``name`` (``worker-<host>``, ``beat``…)."""
        assert self.stack is not None
        return next(c for c in self.stack.children if c.name == name)

    def kill_child(self, name: str) -> int:
        """SIGKILL a child (the supervisor restarts workers, control and beat); returns its pid."""
        proc = self.child(name).proc
        assert proc is not None
        os.kill(proc.pid, signal.SIGKILL)
        return proc.pid

    def cpu_seconds(self) -> float:
        """CPU seconds (user + system) used so far by every live process the stack started
        (each child runs in its own session; gunicorn's worker and redis included), from /proc.
        Processes that already exited (a killed worker) no longer count."""
        assert self.stack is not None
        sessions = {c.proc.pid for c in self.stack.children if c.proc is not None}
        if self.stack.redis is not None and self.stack.redis.pid:
            sessions.add(self.stack.redis.pid)
        return session_cpu_seconds(sessions)

    def running(self, host: str) -> list[str]:
        """Request ids a host's worker is executing right now (its ``running:<host>`` leases in
        Redis); empty when Redis is away."""
        import redis

        from sollol.state.connection import connect
        from sollol.state.inflight import SEP

        assert self.stack is not None
        cfg = self.stack.cfg
        try:
            with connect(cfg, socket_timeout=2) as r:
                members = r.zrange(cfg.key("running", host), 0, -1)
        except redis.RedisError:
            return []
        return [m.rpartition(SEP)[2] for m in members]

    def restarts(self) -> dict[str, int]:
        """How many times the supervisor restarted each child so far."""
        assert self.stack is not None
        return {c.name: c.restarts for c in self.stack.children if c.restarts}


def session_cpu_seconds(sessions: set[int]) -> float:
    """Sum of utime + stime of the processes whose session id is in ``sessions``, seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "
        if int(fields[3]) in sessions:  # field 6 of stat: session id
            total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / tick


def temp_dir(prefix: str) -> Path:
    """A fresh temporary directory (removed by the caller's ``cleanup`` or at reboot)."""
    return Path(tempfile.mkdtemp(prefix=prefix))


# --- one request ------------------------------------------------------------------------------
@dataclass
class CallResult:
    """What the client saw for one request; times are ``time.monotonic()`` seconds.

    ``kind``: "answered" (200 and one final done object), "error" (an HTTP error with a JSON
    error body, or a stream ending in an ``{"error": ...}`` line), "lost" (timeout, connection
    dropped or a body that is neither)."""

    sent: float
    kind: str = "lost"
    status: int = 0
    first: float = math.nan  # first content chunk (streamed requests only)
    done: float = math.nan  # final object or error received
    final: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    chunks: int = 0  # streamed content lines before the final object
    finals: int = 0  # done:true objects received (more than 1 = duplicated answer)
    text: str = ""  # the answer's text (joined chunks when streamed)
    host: str = ""
    request_id: str = ""  # header X-SOLLOL-Request-Id (routed answers, streamed or not)

    @property
    def latency(self) -> float:
        return self.done - self.sent


def call(
    client: httpx.Client,
    url: str,
    endpoint: str,
    body: dict[str, Any],
    priority: int,
    stream: bool,
    timeout_s: float,
    headers: dict[str, str] | None = None,
) -> CallResult:
    """POST ``body`` to ``url``/api/``endpoint`` and classify the outcome (never raises).
    ``headers``: e.g. the API key of the tenant sending it."""
    res = CallResult(sent=time.monotonic())
    body = {**body, "stream": stream}
    try:
        with client.stream(
            "POST",
            f"{url}/api/{endpoint}?priority={priority}",
            json=body,
            headers=headers,
            timeout=httpx.Timeout(timeout_s, connect=10.0),
        ) as r:
            res.status = r.status_code
            res.host = r.headers.get("x-sollol-host", "")
            res.request_id = r.headers.get("x-sollol-request-id", "")
            if stream and r.status_code == 200:
                _read_stream(r, res, endpoint, res.sent + timeout_s)
            else:
                _read_whole(r, res, endpoint)
    except (httpx.HTTPError, OSError) as exc:
        if res.kind == "lost":  # an error line or a final object that came first still counts
            res.error = f"{type(exc).__name__}: {exc}"[:200]
    if math.isnan(res.done):
        res.done = time.monotonic()
    return res


def _text_of(obj: dict[str, Any], endpoint: str) -> str:
    if endpoint == "chat":
        return str((obj.get("message") or {}).get("content") or "")
    return str(obj.get("response") or "")


def _read_stream(r: httpx.Response, res: CallResult, endpoint: str, deadline: float) -> None:
    """NDJSON lines: content chunks, then one final done object or an error line. A stream
    still open at ``deadline`` (monotonic s) is abandoned: lost unless it already ended."""
    parts: list[str] = []
    try:
        for line in r.iter_lines():
            if time.monotonic() > deadline and res.kind == "lost":
                res.error = "deadline exceeded while streaming"
                break
            if line:
                _stream_line(line, res, endpoint, parts)
    finally:
        res.text = "".join(parts)
    if res.kind == "answered" and res.error:
        res.kind = "error"  # a final object together with an error line: not a clean answer


def _stream_line(line: str, res: CallResult, endpoint: str, parts: list[str]) -> None:
    """Fold one NDJSON line into ``res`` (content into ``parts``)."""
    try:
        obj = json.loads(line)
    except ValueError:
        res.error = res.error or f"not JSON: {line[:80]!r}"
        return
    if "error" in obj:  # keep reading: anything after an error line is a protocol violation
        res.kind, res.error, res.done = "error", str(obj["error"]), time.monotonic()
        return
    if obj.get("done"):
        res.finals += 1
        if res.finals == 1 and res.kind == "lost":
            res.final, res.done, res.kind = obj, time.monotonic(), "answered"
        parts.append(_text_of(obj, endpoint))
        return
    piece = _text_of(obj, endpoint)
    if piece and math.isnan(res.first):
        res.first = time.monotonic()
    res.chunks += 1
    parts.append(piece)


def _read_whole(r: httpx.Response, res: CallResult, endpoint: str) -> None:
    """One JSON object: the answer (200) or ``{"error": ...}`` with an HTTP error status."""
    raw = r.read()
    res.done = time.monotonic()
    try:
        obj = json.loads(raw)
    except ValueError:
        res.error = f"HTTP {r.status_code}, body not JSON: {raw[:80]!r}"
        return
    if r.status_code == 200 and isinstance(obj, dict) and (obj.get("done") or "embeddings" in obj):
        res.kind, res.final, res.finals = "answered", obj, 1
        res.text = _text_of(obj, endpoint)
    elif r.status_code >= 400 and isinstance(obj, dict) and isinstance(obj.get("error"), str):
        res.kind, res.error = "error", obj["error"]
    else:
        res.error = f"HTTP {r.status_code}: {str(obj)[:120]}"


# --- command line -----------------------------------------------------------------------------
def doc_parser(doc: str) -> argparse.ArgumentParser:
    """An argument parser whose description is the first paragraph of a script's docstring and
    whose epilog is the rest, printed as written."""
    first, rest = doc.split("\n\n", maxsplit=1)
    return argparse.ArgumentParser(
        description=first, epilog=rest, formatter_class=argparse.RawDescriptionHelpFormatter
    )


# --- measurement and formatting ---------------------------------------------------------------
class CpuMeter:
    """Busy fraction of all CPUs of this machine between :meth:`start` and :meth:`stop`
    (from /proc/stat; every process counts, not only the stack's)."""

    def __init__(self) -> None:
        self._t0: tuple[int, int] | None = None

    @staticmethod
    def _read() -> tuple[int, int]:
        with open("/proc/stat", encoding="ascii") as f:
            values = [int(x) for x in f.readline().split()[1:]]
        idle = values[3] + (values[4] if len(values) > 4 else 0)
        return sum(values) - idle, sum(values)

    def start(self) -> None:
        with contextlib.suppress(OSError):
            self._t0 = self._read()

    def stop(self) -> float:
        """Busy fraction in [0, 1] since :meth:`start` (nan if /proc/stat is unreadable)."""
        if self._t0 is None:
            return math.nan
        try:
            busy, total = self._read()
        except OSError:
            return math.nan
        return (busy - self._t0[0]) / max(1, total - self._t0[1])


def pct(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (0–100, linear interpolation) of the finite values; nan if none."""
    xs = sorted(v for v in values if not math.isnan(v))
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def md_table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None
) -> str:
    """A markdown table; ``align`` is one character per column, "l" or "r" (default: l then r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    out = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if a == "l" else "---:" for a in align) + "|",
    ]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)
