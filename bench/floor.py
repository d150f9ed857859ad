"""What the architecture itself costs: the same requests straight to a node, through a bare
Flask + Celery + Redis path that only carries them (bench/_floor_app.py), and through SOLLOL.

The bare path has everything a gateway → per-host Celery queue → worker → Redis stream design
must do per request and nothing else, on the same components and settings as SOLLOL (gunicorn
gevent worker, Celery threads pool with late acks and prefetch 1, SOLLOL's kombu transport, one
LPUSH per message). Its CPU per request is a floor under any SOLLOL built this way: what SOLLOL
spends above it is its own code, what it spends below it nobody on this architecture can cut.

Phases alternate (direct, floor, SOLLOL, direct, …) against one simulated node, CPU counted per
process from the kernel's counters, 16 clients by default, the load generator of
bench/overhead.py.

    .venv/bin/python bench/floor.py            # 2000 requests per mode and path (~3 min)
    .venv/bin/python bench/floor.py --quick    # 300 requests
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import psutil
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.append(str(ROOT))  # after PYTHONPATH: a worktree given there is the one measured
sys.path.insert(0, str(BENCH))

from overhead import CpuMeter, _config, _pct, _phase, _profile  # noqa: E402

from sollol.embedded_redis import free_port  # noqa: E402
from sollol.launcher import Stack  # noqa: E402

PATHS = ("direct", "floor", "sollol")
COLUMNS = ("client", "gateway", "worker", "redis", "sim", "beat+control")


def _start_floor(stack: Stack, node_url: str, log_dir: Path) -> tuple[list[subprocess.Popen], str]:
    port = free_port()
    env = {
        **os.environ,
        "SOLLOL_REDIS_URL": stack.cfg.redis_url,
        "FLOOR_NODE_URL": node_url,
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(ROOT)]),
    }
    py = sys.executable
    gateway = [py, "-m", "gunicorn", "_floor_app:app", "--bind", f"127.0.0.1:{port}"]
    gateway += ["--worker-class", "gevent", "--worker-connections", "1000", "--workers", "1"]
    worker = [py, "-m", "celery", "-A", "_floor_app:celery", "worker", "-Q", "floor", "-n"]
    worker += ["floor@%h", "-P", "threads", "-c", "16", "--without-mingle", "--without-gossip"]
    worker += ["--loglevel", "WARNING"]
    procs = []
    for name, argv in (("floor-gateway", gateway), ("floor-worker", worker)):
        log = open(log_dir / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the child
        procs.append(subprocess.Popen(argv, env=env, cwd=BENCH, stdout=log, stderr=log))
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # ready when a request goes all the way through the worker and back
        try:
            _phase(url, False, 1, 1)
            return procs, url
        except (OSError, RuntimeError):
            if time.monotonic() > deadline or any(p.poll() is not None for p in procs):
                logs = "\n".join(p.read_text()[-2000:] for p in log_dir.glob("floor-*.log"))
                raise RuntimeError(f"the floor stack did not come up:\n{logs}") from None
            time.sleep(0.2)


def _column(name: str, path: str) -> str:
    if name in ("client", "redis", "sim"):
        return name
    if name in ("beat", "control"):
        return "" if path == "floor" else "beat+control"  # SOLLOL's background work
    floor = name.startswith("floor-")
    if floor != (path == "floor") and path != "direct":
        return ""  # the other path's gateway and worker: idle, not this path's cost
    return "worker" if "worker" in name else "gateway" if "gateway" in name else ""


def run(requests: int, rounds: int, clients: int) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        node_port = free_port()
        profile = Path(tmp, "bench.yaml")
        profile.write_text(yaml.safe_dump(_profile(node_port, clients)))
        stack = Stack(_config({}), sim_profile=str(profile))
        stack.start()
        procs: list[subprocess.Popen] = []
        try:
            node = f"http://127.0.0.1:{node_port}"
            procs, floor = _start_floor(stack, node, Path(tmp))
            urls = {"direct": node, "floor": floor, "sollol": f"http://127.0.0.1:{stack.cfg.port}"}
            meter = CpuMeter(stack)
            for name, proc in zip(("floor-gateway", "floor-worker"), procs, strict=True):
                parent = psutil.Process(proc.pid)
                meter.procs[name] = [parent, *parent.children(recursive=True)]
            results: dict = {}
            for stream in (False, True):
                for url in urls.values():  # warm up every path
                    _phase(url, stream, clients * 2, clients)
                for _ in range(rounds):
                    for path, url in urls.items():
                        got = meter.measure(
                            path, partial(_phase, url, stream, requests // rounds, clients)
                        )
                        results.setdefault((path, stream), []).extend(got)
            cpu = {}
            for path, totals in meter.totals.items():
                cols = dict.fromkeys(COLUMNS, 0.0)
                for name, seconds in totals.items():
                    if col := _column(name, path):
                        cols[col] += seconds * 1000 / (2 * requests)
                cpu[path] = cols
        finally:
            for p in procs:
                p.terminate()
            for p in procs:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            stack.stop()
            stack.cleanup_logs()
    return results, cpu


def report(results: dict, cpu: dict, clients: int) -> str:
    lines = [
        f"CPU per request, ms ({clients} clients, streamed and non-streamed pooled; the node is "
        "the same simulated one on every path)",
        "",
        "| path | " + " | ".join(COLUMNS) + " | total | above direct |",
        "|---|" + "---:|" * (len(COLUMNS) + 2),
    ]
    totals = {p: sum(c.values()) for p, c in cpu.items()}
    for path in PATHS:
        cols = cpu[path]
        lines.append(
            f"| {path} | "
            + " | ".join(f"{cols[c]:.2f}" for c in COLUMNS)
            + f" | {totals[path]:.2f} | {totals[path] - totals['direct']:+.2f} |"
        )
    above = {p: totals[p] - totals["direct"] for p in ("floor", "sollol")}
    lines += [
        "",
        f"floor ÷ SOLLOL, total: {totals['floor'] / totals['sollol']:.2f}; above direct: "
        f"{above['floor'] / above['sollol']:.2f}",
        "",
        "Latency, ms",
        "",
        "| mode | path | p50 | p99 | first token p50 |",
        "|---|---|---:|---:|---:|",
    ]
    for (path, stream), got in sorted(
        results.items(), key=lambda kv: (kv[0][1], PATHS.index(kv[0][0]))
    ):
        total, first = [g[0] for g in got], [g[1] for g in got]
        ft = f"{_pct(first, 50):.2f}" if stream else ""
        mode = "stream" if stream else "non-stream"
        lines.append(f"| {mode} | {path} | {_pct(total, 50):.2f} | {_pct(total, 99):.2f} | {ft} |")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=2000, help="per mode and path")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of the three paths")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--quick", action="store_true", help="300 requests, 3 rounds")
    a = ap.parse_args()
    if a.quick:
        a.requests, a.rounds = 300, 3
    results, cpu = run(a.requests, a.rounds, a.clients)
    print(report(results, cpu, a.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())
