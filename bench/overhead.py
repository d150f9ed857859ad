"""Latency SOLLOL adds: the same requests sent straight to a simulated node and through the gateway.

One run, one machine, same sim node, 16 concurrent clients by default. Phases alternate
(direct, gateway, direct, gateway, …) so drift in machine load hits both sides alike. Reports
p50/p90/p99 of total latency and time-to-first-token for non-streaming and streaming requests,
and the added latency (gateway minus direct) at each percentile.

    .venv/bin/python bench/overhead.py                 # full run (~1–2 min)
    .venv/bin/python bench/overhead.py --quick         # smoke run
    .venv/bin/python bench/overhead.py --stream-tokens 64   # Redis commands and CPU per streamed token

Targets (docs/targets.md): added p50 ≤ 3 ms, p99 ≤ 10 ms at 16 concurrent clients on loopback.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import http.client
import json
import os
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT))  # after PYTHONPATH: a worktree given there is the one measured

from sollol.config import load_config  # noqa: E402
from sollol.embedded_redis import free_port  # noqa: E402
from sollol.launcher import Stack  # noqa: E402

TOKENS = 8


def _profile(port: int, slots: int) -> dict:
    # A node fast enough that its own service time (~8 ms) is small and steady next to overheads.
    return {
        "time_scale": 1.0,
        "nodes": [
            {
                "name": "bench",
                "port": port,
                "num_parallel": slots,
                "max_loaded_models": 1,
                "models": {
                    "llama3.2": {
                        "size_mb": 2000,
                        "load_s": 1.0,
                        "prompt_tps": 100000,
                        "gen_tps": 1000,
                    }
                },
                "loaded": ["llama3.2"],
            }
        ],
    }


class _Client:
    """A keep-alive HTTP/1.1 connection per load thread (http.client: the load generator must
    cost far less CPU than what it measures; on 2 cores httpx cost more than the gateway)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)

    def one(self, stream: bool) -> tuple[float, float]:
        body = json.dumps(
            {
                "model": "llama3.2",
                "prompt": "Why is the sky blue?",
                "stream": stream,
                "options": {"num_predict": TOKENS, "seed": 1},
            }
        )
        t0 = time.perf_counter()
        self.conn.request("POST", "/api/generate", body, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:200]!r}")
        first = 0.0
        while True:
            line = resp.readline()
            if not line:
                break
            if not first:
                first = time.perf_counter() - t0
            if b'"done":true' in line:
                break
        resp.read()
        return time.perf_counter() - t0, first


def _phase(url: str, stream: bool, n: int, clients: int) -> list[tuple[float, float]]:
    local = threading.local()

    def task(_: int) -> tuple[float, float]:
        if not hasattr(local, "client"):
            local.client = _Client(url)
        return local.client.one(stream)

    with cf.ThreadPoolExecutor(clients) as pool:
        return list(pool.map(task, range(n)))


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


class CpuMeter:
    """CPU seconds used by each process of the stack (and this load generator) between marks."""

    def __init__(self, stack: Stack) -> None:
        procs = {c.name: c.proc.pid for c in stack.children if c.proc is not None}
        if stack.redis is not None and stack.redis.pid:
            procs["redis"] = stack.redis.pid
        procs["client"] = os.getpid()
        self.procs: dict[str, list[psutil.Process]] = {}
        for name, pid in procs.items():
            parent = psutil.Process(pid)
            kids = [] if name == "client" else parent.children(recursive=True)
            self.procs[name] = [parent, *kids]  # gunicorn's worker is a child of its arbiter
        self.totals: dict[str, dict[str, float]] = {}
        self._last: dict[int, float] = {}

    def _now(self) -> dict[str, float]:
        return {n: sum(self._cpu(p) for p in ps) for n, ps in self.procs.items()}

    def _cpu(self, proc: psutil.Process) -> float:
        """User + system CPU seconds of ``proc``; its last reading once it has exited (a child
        such as Redis's snapshot fork may end between two marks)."""
        with contextlib.suppress(psutil.NoSuchProcess):
            self._last[proc.pid] = sum(proc.cpu_times()[:2])
        return self._last.get(proc.pid, 0.0)

    def measure(self, side: str, fn: Any) -> Any:
        before = self._now()
        out = fn()
        after = self._now()
        acc = self.totals.setdefault(side, {})
        for name in after:
            acc[name] = acc.get(name, 0.0) + after[name] - before[name]
        return out


def _config(settings: dict[str, str]) -> Any:
    """The stack's config: defaults, then ``settings`` (``--set name=value``, as SOLLOL_NAME)."""
    env = {f"SOLLOL_{k.upper()}": v for k, v in settings.items()}
    return load_config(env=env, port=free_port(), log_level="WARNING")


def run(
    requests: int, rounds: int, clients_list: list[int], settings: dict[str, str] | None = None
) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        node_port = free_port()
        path = Path(tmp, "bench.yaml")
        path.write_text(yaml.safe_dump(_profile(node_port, max(clients_list))))
        cfg = _config(settings or {})
        stack = Stack(cfg, sim_profile=str(path))
        stack.start()
        cpu: dict = {}
        try:
            direct, gateway = f"http://127.0.0.1:{node_port}", f"http://127.0.0.1:{cfg.port}"
            results = {}
            for clients in clients_list:
                meter = CpuMeter(stack)
                for stream in (False, True):
                    _phase(direct, stream, clients * 2, clients)  # warm up both paths
                    _phase(gateway, stream, clients * 2, clients)
                    d: list[tuple[float, float]] = []
                    g: list[tuple[float, float]] = []
                    for _ in range(rounds):
                        n = requests // rounds
                        d += meter.measure("direct", partial(_phase, direct, stream, n, clients))
                        g += meter.measure("gateway", partial(_phase, gateway, stream, n, clients))
                    results[(clients, "stream" if stream else "non-stream")] = (d, g)
                cpu[clients] = {
                    side: {k: v / (2 * requests) for k, v in t.items()}
                    for side, t in meter.totals.items()
                }
        finally:
            stack.stop()
            stack.cleanup_logs()
    return results, cpu


def report(results: dict, cpu: dict) -> str:
    lines = [
        f"Added latency, {TOKENS} output tokens per request (ms; gateway minus direct at the same "
        "percentile)",
        "",
        "| clients | mode | metric | direct p50 | gateway p50 | added p50 | direct p99 "
        "| gateway p99 | added p99 |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (clients, mode), (d, g) in results.items():
        for idx, metric in ((0, "total"), (1, "first token")):
            if mode == "non-stream" and idx == 1:
                continue
            dv, gv = [x[idx] for x in d], [x[idx] for x in g]
            p50d, p50g, p99d, p99g = _pct(dv, 50), _pct(gv, 50), _pct(dv, 99), _pct(gv, 99)
            lines.append(
                f"| {clients} | {mode} | {metric} | {p50d:.2f} | {p50g:.2f} | {p50g - p50d:+.2f} | "
                f"{p99d:.2f} | {p99g:.2f} | {p99g - p99d:+.2f} |"
            )
    lines += [
        "",
        "CPU per request (ms of CPU time, all modes pooled; the machine has 2 cores)",
        "",
        "| clients | path | " + " | ".join(CPU_COLUMNS) + " | total |",
        "|---:|---|" + "---:|" * (len(CPU_COLUMNS) + 1),
    ]
    for clients, sides in cpu.items():
        for side, per in sides.items():
            cols = [sum(v for k, v in per.items() if _column(k) == c) * 1000 for c in CPU_COLUMNS]
            lines.append(
                f"| {clients} | {side} | "
                + " | ".join(f"{c:.2f}" for c in cols)
                + f" | {sum(cols):.2f} |"
            )
    return "\n".join(lines)


CPU_COLUMNS = ["client", "gateway", "worker", "redis", "sim", "beat+control"]


def _column(name: str) -> str:
    if name.startswith("worker-"):
        return "worker"
    if name in ("beat", "control"):
        return "beat+control"
    return name


def stream_cost(
    tokens: int, requests: int, clients: int, settings: dict[str, str] | None = None
) -> str:
    """Streamed requests only, ``tokens`` each: Redis commands (INFO commandstats) and CPU per
    request and per token, and the tokens/s the stack streamed."""
    global TOKENS  # noqa: PLW0603 - the load generator's request size
    TOKENS = tokens
    import redis

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "bench.yaml")
        path.write_text(yaml.safe_dump(_profile(free_port(), clients)))
        cfg = _config(settings or {})
        stack = Stack(cfg, sim_profile=str(path))
        stack.start()
        try:
            url = f"http://127.0.0.1:{stack.cfg.port}"
            _phase(url, True, clients * 2, clients)  # warm up
            r = redis.Redis.from_url(stack.cfg.redis_url, decode_responses=True)
            meter = CpuMeter(stack)
            r.config_resetstat()
            t0 = time.monotonic()
            meter.measure("gateway", partial(_phase, url, True, requests, clients))
            wall = time.monotonic() - t0
            stats = r.info("commandstats")
        finally:
            stack.stop()
            stack.cleanup_logs()
    cpu, n = meter.totals["gateway"], requests * tokens
    calls = {k.removeprefix("cmdstat_"): v["calls"] for k, v in stats.items()}
    by_column: dict[str, float] = {}
    for name, seconds in cpu.items():
        by_column[_column(name)] = by_column.get(_column(name), 0.0) + seconds
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:8]
    return "\n".join(
        [
            f"{requests} streamed requests of {tokens} tokens, {clients} clients: "
            f"{n / wall:.0f} tokens/s",
            f"Redis commands per request {sum(calls.values()) / requests:.1f}, per token "
            f"{sum(calls.values()) / n:.2f} (XADD {calls.get('xadd', 0) / n:.2f}, "
            f"XREAD {calls.get('xread', 0) / n:.2f})",
            "per request: " + ", ".join(f"{k} {v / requests:.1f}" for k, v in top),
            f"Redis CPU per token {cpu['redis'] * 1e6 / n:.1f} us; CPU ms per request: "
            + ", ".join(f"{k} {v * 1000 / requests:.2f}" for k, v in sorted(by_column.items())),
        ]
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per mode and side")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of direct/gateway phases")
    ap.add_argument("--clients", default="1,16", help="comma-separated concurrency levels")
    ap.add_argument("--quick", action="store_true", help="200 requests, 2 rounds")
    ap.add_argument(
        "--stream-tokens",
        type=int,
        default=0,
        help="instead: streamed requests of this many tokens, Redis commands and CPU per token",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a SOLLOL setting for the whole stack, e.g. --set switch_interval_ms=5 (repeatable)",
    )
    args = ap.parse_args()
    settings = dict(s.split("=", 1) for s in args.set)
    if args.stream_tokens:
        n = 200 if args.quick else 480
        print(stream_cost(args.stream_tokens, n, int(args.clients.split(",")[-1]), settings))
        return 0
    if args.quick:
        args.requests, args.rounds = 200, 2
    clients = [int(c) for c in args.clients.split(",")]
    results, cpu = run(args.requests, args.rounds, clients, settings)
    print(report(results, cpu))
    return 0


if __name__ == "__main__":
    sys.exit(main())
