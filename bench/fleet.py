"""Routing strategies compared on the LIVE stack: gateway, Celery on Redis, workers, simulated nodes.

For each strategy a fresh stack (exactly what ``sollol up --sim-profile`` runs) serves the SAME
seeded open-loop Poisson arrival trace: the request classes, priorities, prompts and heavy-tailed
output lengths of bench/policy.py (bench/_des_workload.py; the script checks that its trace is the
very one policy.py simulates for the same seed), offered at ``--load`` × the fleet's capacity.

    .venv/bin/python bench/fleet.py --quick          # < 3 min: 3 strategies, 30 s arrival window
    .venv/bin/python bench/fleet.py                  # full: 5 strategies, 150 s window each
    .venv/bin/python bench/fleet.py --identical      # also deploy/sim/identical.yaml
    .venv/bin/python bench/fleet.py --strategies performance,least_connections --load 0.75

Time: the simulated nodes run every delay ``--time-scale`` times faster than the profile says
(0.1: ten times faster). Latencies are reported in the fleet's own ("real") seconds = wall-clock
seconds ÷ time_scale, so they compare with bench/policy.py; so are the arrival window and
warm-up in the headers. Gateway, Celery and Redis overheads are NOT compressed, so they weigh
1/time_scale times more in these "real" numbers than on a real fleet.

Capacity (requests/s the fleet sustains) is bench/policy.py's analytic definition from the
profile's rates (each node with all slots busy on its fastest resident generative model, average
prompt and output of the generative classes; embeddings ride along) divided by time_scale.
Every number printed is measured in this run; nothing is read from earlier results.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import _des_conversations as conversations  # noqa: E402
from _des_workload import (  # noqa: E402
    _body,
    capacity,
    priority_of,
    served_classes,
    unit_trace,
)
from _live import (  # noqa: E402
    ROOT,
    CallResult,
    CpuMeter,
    LiveStack,
    call,
    doc_parser,
    md_table,
    pct,
    profile_copy,
    scaled_settings,
    temp_dir,
)

from sollol.names import normalize_model  # noqa: E402
from sollol.router import analyse_request  # noqa: E402
from sollol.sim import physics  # noqa: E402
from sollol.sim.profile import FleetProfile, load_profile  # noqa: E402

MIXED, IDENTICAL = "deploy/sim/mixed.yaml", "deploy/sim/identical.yaml"
# identical.yaml has 2.5× mixed.yaml's capacity: a larger scale keeps the wall-clock request rate
# (what this machine must carry) about the same
DEFAULT_TIME_SCALE = {MIXED: 0.1, IDENTICAL: 0.25}
FALLBACK_TIME_SCALE = 0.2
ALL_STRATEGIES = ("performance", "least_connections", "round_robin", "random", "priority")
BASELINES = ("least_connections", "round_robin")
BANDS = (("p9-10", 9, 10), ("p5", 5, 5), ("p1-2", 1, 2))
STREAM_SALT = (
    1_000_003  # the streamed subset is drawn from its own RNG: the trace stays policy.py's
)
NCPU = os.cpu_count() or 1
COLD_FRACTION = 0.5  # a request is cold when its load_duration ≥ this × the model's load time


# --- workload ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request of the trace; ``at`` is its arrival in wall seconds after the run starts."""

    index: int
    at: float
    cls: str
    endpoint: str
    body: dict[str, Any]
    priority: int
    out_tokens: int
    stream: bool


def build_trace(
    profile: FleetProfile, seed: int, rate: float, duration_s: float, stream_share: float
) -> list[Request]:
    """Arrivals at ``rate`` per wall second over ``duration_s``: bench/policy.py's unit trace.

    The RNG calls mirror ``_des_workload.unit_trace`` one for one (class, priority, body, output
    length, gap) so that the same seed yields the same requests; :func:`check_same_trace` proves
    it. Generative requests carry ``options.num_predict`` = the sampled output length (the
    simulator then produces exactly that many tokens on any node)."""
    rng = random.Random(seed)
    streams = random.Random(seed * STREAM_SALT)
    classes = served_classes(profile)
    weights = [s for _, s in classes]
    n = max(1, int(rate * duration_s))
    out: list[Request] = []
    t = 0.0
    for i in range(n):
        c = rng.choices([c for c, _ in classes], weights)[0]
        prio = priority_of(rng)
        endpoint, body = _body(c, rng, i)
        tokens = physics.sample_output_tokens(rng, median=c.output_median) if c.output_median else 0
        t += rng.expovariate(1.0) / rate
        if tokens:
            body = {**body, "options": {"num_predict": tokens}}
        stream = endpoint != "embed" and streams.random() < stream_share
        out.append(Request(i, t, c.name, endpoint, body, prio, tokens, stream))
    return out


def multi_turn_trace(seed: int, rate: float, duration_s: float, ts: float) -> list[Request]:
    """bench/policy.py's multi-turn sessions (bench/_des_conversations.py) at ``rate`` requests
    per fleet second, arrivals in wall seconds (× ``ts``). A turn re-sends the workload's own
    text for earlier answers, not what the node generated, so a node's cache can reuse the
    previous prompt but not the previous answer."""
    out = []
    for i, r in enumerate(conversations._sessions(seed, rate, duration_s / ts)):
        body = {
            "model": conversations.MODEL,
            "messages": [{"role": role, "content": c} for role, c in r.messages],
            "options": {"num_predict": r.out_tokens},
        }
        out.append(
            Request(i, r.arrival * ts, "multi_turn", "chat", body, r.priority, r.out_tokens, True)
        )
    return out


def check_same_trace(profile: FleetProfile, seed: int, trace: Sequence[Request]) -> None:
    """Raise if ``trace`` differs from the one bench/policy.py simulates for ``seed``."""
    ref = unit_trace(profile, seed, len(trace))
    for req, item in zip(trace, ref, strict=True):
        body = {k: v for k, v in req.body.items() if k != "options"}
        if (
            analyse_request(req.endpoint, body, req.priority) != item.profile
            or req.out_tokens != item.out_tokens
            or req.cls != item.cls
        ):
            raise RuntimeError(f"request {req.index} differs from bench/policy.py's trace")


# --- one strategy on a live stack -------------------------------------------------------------
@dataclass
class Run:
    """Everything measured while one strategy served the trace."""

    strategy: str
    results: list[CallResult | None]  # per trace index; kind "unfinished" when cut off
    node_loads: dict[str, int]  # model loads the nodes performed in the measured window
    machine: float  # busy fraction of all CPUs in the measured window (every process)
    stack_cores: float  # CPU cores the stack's processes used on average in the window
    loadgen_cores: float  # CPU cores this load generator used on average in the window
    lag_p99: float  # dispatcher lateness vs the trace, wall s
    restarts: dict[str, int] = field(default_factory=dict)


def _loads(stack: LiveStack) -> dict[str, int]:
    return {name: int(n["loads"]) for name, n in stack.nodes().items()}


def run_strategy(
    profile_path: Path,
    strategy: str,
    time_scale: float,
    trace: Sequence[Request],
    warmup_s: float,
    drain_s: float,
    settings: dict[str, Any],
) -> Run:
    """Start a stack with ``strategy``, drive ``trace`` open-loop (one thread per request, sent
    at its trace time whatever the server is doing), wait at most ``drain_s`` after the last
    arrival, stop the stack. Requests still open then are "unfinished" (latency censored at the
    cut-off). Node load counters and CPU use cover the window after ``warmup_s``."""
    results: list[CallResult | None] = [None] * len(trace)
    sent = [math.nan] * len(trace)
    with LiveStack(profile_path, strategy, time_scale, settings) as stack:
        before: dict[str, int] = {}
        cpu = CpuMeter()
        mark = (time.monotonic(), stack.cpu_seconds(), time.process_time())
        lags: list[float] = []
        threads: list[threading.Thread] = []
        t0 = time.monotonic() + 0.5
        last = trace[-1].at
        for req in trace:
            if not before and req.at >= warmup_s:
                before = _loads(stack)
                cpu.start()
                mark = (time.monotonic(), stack.cpu_seconds(), time.process_time())
            delay = t0 + req.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            lags.append(time.monotonic() - (t0 + req.at))
            sent[req.index] = time.monotonic()
            timeout = last - req.at + drain_s + 30.0
            th = threading.Thread(target=_send, args=(stack, req, results, timeout), daemon=True)
            th.start()
            threads.append(th)
        end = t0 + last + drain_s
        for th in threads:
            th.join(max(0.0, end - time.monotonic()))
        cutoff = time.monotonic()
        busy = cpu.stop()
        span = max(1e-9, cutoff - mark[0])
        stack_cores = (stack.cpu_seconds() - mark[1]) / span
        loadgen_cores = (time.process_time() - mark[2]) / span
        final = [
            r if r is not None else CallResult(sent=sent[i], kind="unfinished", done=cutoff)
            for i, r in enumerate(list(results))
        ]
        after = _loads(stack)
        restarts = stack.restarts()
    loads = {h: after[h] - before.get(h, after[h]) for h in after}
    return Run(strategy, final, loads, busy, stack_cores, loadgen_cores, pct(lags, 99), restarts)


def _send(
    stack: LiveStack, req: Request, results: list[CallResult | None], timeout_s: float
) -> None:
    assert stack.client is not None
    results[req.index] = call(
        stack.client, stack.url, req.endpoint, req.body, req.priority, req.stream, timeout_s
    )


# --- statistics -------------------------------------------------------------------------------
@dataclass
class Summary:
    """One strategy's measured window (arrivals after the warm-up), pooled over seeds.

    Latencies in the fleet's own seconds (wall ÷ time_scale)."""

    strategy: str
    n: int
    answered: int
    errors: Counter[str]
    unfinished: int
    latency: list[float]  # answered + unfinished (censored at the cut-off)
    ttft: list[float]  # streamed requests that produced a token
    wait: dict[str, list[float]]  # priority band → Celery-queue waits (queue_wait_ms)
    cold: int  # requests whose load_duration shows a model load
    hosts: Counter[str]
    node_loads: int
    machine: list[float]  # per seed: busy fraction of all CPUs
    stack_cores: list[float]  # per seed
    loadgen_cores: list[float]  # per seed
    lag_p99: float
    restarts: dict[str, int]

    def q(self, what: str, p: float) -> float:
        return pct(getattr(self, what), p)

    def censored_at(self, p: float) -> bool:
        """True when the p-th latency percentile falls among censored values (a lower bound)."""
        return self.unfinished > self.n * (1 - p / 100.0)


def load_times(profile: FleetProfile) -> dict[tuple[str, str], float]:
    """(node, normalized model) → the model's load time on that node, profile seconds."""
    return {(n.name, m): spec.load_s for n in profile.nodes for m, spec in n.models.items()}


def _band(priority: int) -> str | None:
    return next((name for name, lo, hi in BANDS if lo <= priority <= hi), None)


def summarize(
    runs: Sequence[Run],
    trace_of: Sequence[Sequence[Request]],
    warmup_s: float,
    time_scale: float,
    loads_s: dict[tuple[str, str], float],
) -> Summary:
    """Pool the measured windows of ``runs`` (one per seed, each with its trace)."""
    s = Summary(
        runs[0].strategy,
        0,
        0,
        Counter(),
        0,
        [],
        [],
        {b[0]: [] for b in BANDS},
        0,
        Counter(),
        0,
        [],
        [],
        [],
        0.0,
        {},
    )
    for run, trace in zip(runs, trace_of, strict=True):
        s.node_loads += sum(run.node_loads.values())
        s.machine.append(run.machine)
        s.stack_cores.append(run.stack_cores)
        s.loadgen_cores.append(run.loadgen_cores)
        s.lag_p99 = max(s.lag_p99, run.lag_p99)
        for k, v in run.restarts.items():
            s.restarts[k] = s.restarts.get(k, 0) + v
        for req, res in zip(trace, run.results, strict=True):
            if req.at < warmup_s or res is None:
                continue
            _count(s, req, res, time_scale, loads_s)
    return s


def _count(
    s: Summary,
    req: Request,
    res: CallResult,
    time_scale: float,
    loads_s: dict[tuple[str, str], float],
) -> None:
    s.n += 1
    if res.kind == "unfinished":
        s.unfinished += 1
        s.latency.append(res.latency / time_scale)
        return
    if res.kind != "answered":
        s.errors[(res.error or res.kind)[:70]] += 1
        return
    s.answered += 1
    s.latency.append(res.latency / time_scale)
    if req.stream and not math.isnan(res.first):
        s.ttft.append((res.first - res.sent) / time_scale)
    routing = res.final.get("_sollol_routing") or {}
    host = str(routing.get("host") or res.host)
    s.hosts[host] += 1
    band = _band(req.priority)
    if band and "queue_wait_ms" in routing:
        s.wait[band].append(float(routing["queue_wait_ms"]) / 1000.0 / time_scale)
    load_s = loads_s.get((host, normalize_model(str(req.body.get("model", "")))), math.inf)
    if res.final.get("load_duration", 0) / 1e9 >= COLD_FRACTION * load_s * time_scale:
        s.cold += 1


# --- report -----------------------------------------------------------------------------------
def _f(x: float, censored: bool = False) -> str:
    if math.isnan(x):
        return "–"
    text = f"{x:.3g}" if x < 100 else f"{x:.0f}"
    return ("≥" + text) if censored else text


def latency_table(sums: Sequence[Summary]) -> str:
    rows = []
    for s in sums:
        err = sum(s.errors.values())
        rows.append(
            [
                s.strategy,
                s.n,
                _f(s.q("latency", 50), s.censored_at(50)),
                _f(s.q("latency", 95), s.censored_at(95)),
                _f(s.q("latency", 99), s.censored_at(99)),
                _f(s.q("ttft", 50)),
                _f(s.q("ttft", 99)),
                f"{s.cold / max(1, s.answered):.2%}",
                f"{s.node_loads / max(1, s.n):.2%}",
                err,
                s.unfinished,
            ]
        )
    return md_table(
        [
            "strategy",
            "requests",
            "p50 s",
            "p95 s",
            "p99 s",
            "TTFT p50 s",
            "TTFT p99 s",
            "cold (load_duration)",
            "node loads ÷ requests",
            "errors",
            "unfinished",
        ],
        rows,
    )


def ratio_table(sums: Sequence[Summary]) -> str:
    """Each strategy ÷ each baseline measured in this run (p50, p95, p99 latency; TTFT p99)."""
    by = {s.strategy: s for s in sums}
    bases = [b for b in BASELINES if b in by]
    headers, rows = ["strategy"], []
    for b in bases:
        short = "LC" if b == "least_connections" else "RR"
        headers += [f"p50 ÷ {short}", f"p95 ÷ {short}", f"p99 ÷ {short}", f"TTFT p99 ÷ {short}"]
    for s in sums:
        row: list[object] = [s.strategy]
        for b in bases:
            base = by[b]
            for what, p in (("latency", 50), ("latency", 95), ("latency", 99), ("ttft", 99)):
                r = s.q(what, p) / base.q(what, p) if base.q(what, p) > 0 else math.nan
                # a censored baseline makes the ratio an upper bound, a censored self a lower one
                mark = (
                    ""
                    if base is s or what != "latency"
                    else _bound(s.censored_at(p), base.censored_at(p))
                )
                row.append("–" if math.isnan(r) else f"{mark}{r:.2f}")
        rows.append(row)
    return md_table(headers, rows)


def _bound(num_censored: bool, den_censored: bool) -> str:
    """How a ratio of two percentiles is bounded when either is censored (a lower bound)."""
    if num_censored and den_censored:
        return "?"  # both are lower bounds: the ratio is unknown
    return "≤" if den_censored else ("≥" if num_censored else "")


def wait_table(sums: Sequence[Summary]) -> str:
    headers = ["strategy"]
    for name, _, _ in BANDS:
        headers += [f"{name} n", f"{name} p50 s", f"{name} p99 s"]
    rows = []
    for s in sums:
        row: list[object] = [s.strategy]
        for name, _, _ in BANDS:
            w = s.wait[name]
            row += [len(w), _f(pct(w, 50)), _f(pct(w, 99))]
        rows.append(row)
    return md_table(headers, rows)


def host_table(sums: Sequence[Summary], hosts: Sequence[str]) -> str:
    rows = [[s.strategy] + [f"{s.hosts[h] / max(1, s.answered):.0%}" for h in hosts] for s in sums]
    return md_table(["strategy (answered requests)", *hosts], rows)


def health_table(sums: Sequence[Summary]) -> str:
    rows = []
    for s in sums:
        errs = "; ".join(f"{c}× {m}" for m, c in s.errors.most_common(3)) or "–"
        restarts = ", ".join(f"{k} {v}" for k, v in s.restarts.items()) or "–"
        others = max(
            0.0, pct(s.machine, 50) * NCPU - pct(s.stack_cores, 50) - pct(s.loadgen_cores, 50)
        )
        rows.append(
            [
                s.strategy,
                f"{pct(s.stack_cores, 50):.2f}",
                f"{pct(s.loadgen_cores, 50):.2f}",
                f"{pct(s.machine, 50):.0%}",
                f"{others:.2f}",
                f"{s.lag_p99 * 1000:.0f}",
                restarts,
                errs,
            ]
        )
    return md_table(
        [
            "strategy",
            "stack CPU, cores",
            "load generator, cores",
            f"machine busy ({NCPU} cores)",
            "other processes, cores",
            "dispatch lag p99 ms",
            "process restarts",
            "errors (top 3)",
        ],
        rows,
        "lrrrrrll",
    )


def targets(name: str, sums: Sequence[Summary]) -> list[str]:
    """The fleet targets of docs/targets.md, evaluated on this run's numbers (one line each)."""
    by = {s.strategy: s for s in sums}
    me, lc, rr = by.get("performance"), by.get("least_connections"), by.get("round_robin")
    if me is None or lc is None:
        return ["(targets need performance and least_connections in the run)"]
    out = []

    def line(label: str, value: float, limit: float, lower_bound: bool = False) -> None:
        ok = value <= limit
        verdict = "met" if ok else "MISSED"
        if lower_bound and ok:
            verdict = "met (baseline censored: the true ratio is smaller still)"
        out.append(f"- {name}: {label} = {value:.2f} (target ≤ {limit:g}): {verdict}")

    if "identical" in name:
        for p in (50, 99):
            r = me.q("latency", p) / lc.q("latency", p)
            out.append(
                f"- {name}: p{p} ÷ least_connections = {r:.3f} (target within 5 %): "
                f"{'met' if abs(r - 1) <= 0.05 else 'MISSED'}"
            )
        return out
    line(
        "p99 ÷ least_connections",
        me.q("latency", 99) / lc.q("latency", 99),
        0.5,
        lc.censored_at(99),
    )
    line(
        "p50 ÷ least_connections",
        me.q("latency", 50) / lc.q("latency", 50),
        0.7,
        lc.censored_at(50),
    )
    if rr is not None:
        line(
            "p99 ÷ round_robin", me.q("latency", 99) / rr.q("latency", 99), 0.4, rr.censored_at(99)
        )
    cold = me.cold / max(1, me.answered)
    out.append(
        f"- {name}: performance cold loads = {cold:.2%} of requests (target ≤ 2 %): "
        f"{'met' if cold <= 0.02 else 'MISSED'}"
    )
    return out


def plot(sums: Sequence[Summary], title: str, out: Path) -> None:
    """Latency CDFs (log x) and p99 queue wait per priority band, one colour per strategy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for s in sums:
        xs = sorted(s.latency)
        if xs:
            a.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=s.strategy)
    a.set_xscale("log")
    a.set_xlabel("latency, fleet seconds (wall ÷ time_scale; unfinished at the cut-off)")
    a.set_ylabel("fraction of requests")
    a.grid(alpha=0.3)
    a.legend()
    width = 0.8 / max(1, len(sums))
    for i, s in enumerate(sums):
        vals = [pct(s.wait[name], 99) for name, _, _ in BANDS]
        b.bar(
            [j + i * width for j in range(len(BANDS))],
            [0 if math.isnan(v) else v for v in vals],
            width,
            label=s.strategy,
        )
    b.set_xticks(
        [j + width * (len(sums) - 1) / 2 for j in range(len(BANDS))], [name for name, _, _ in BANDS]
    )
    b.set_yscale("symlog", linthresh=0.1)
    b.set_ylabel("p99 Celery-queue wait, fleet seconds")
    b.legend(fontsize="small")
    b.grid(alpha=0.3, axis="y")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def write_csv(
    path: Path,
    name: str,
    strategy: str,
    seed: int,
    trace: Sequence[Request],
    run: Run,
    time_scale: float,
) -> None:
    """Append one row per request (wall seconds) to ``path``."""
    new = not path.exists()
    with path.open("a", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        if new:
            w.writerow(
                [
                    "profile",
                    "strategy",
                    "seed",
                    "index",
                    "arrival_s",
                    "class",
                    "priority",
                    "out_tokens",
                    "stream",
                    "kind",
                    "latency_s",
                    "ttft_s",
                    "host",
                    "queue_wait_ms",
                    "load_duration_s",
                    "error",
                    "time_scale",
                    "predicted_ms",
                    "reasoning",
                ]
            )
        for req, res in zip(trace, run.results, strict=True):
            if res is None:
                continue
            routing = res.final.get("_sollol_routing") or {}
            w.writerow(
                [
                    name,
                    strategy,
                    seed,
                    req.index,
                    f"{req.at:.4f}",
                    req.cls,
                    req.priority,
                    req.out_tokens,
                    int(req.stream),
                    res.kind,
                    f"{res.latency:.4f}",
                    f"{res.first - res.sent:.4f}",
                    routing.get("host", res.host),
                    routing.get("queue_wait_ms", ""),
                    res.final.get("load_duration", 0) / 1e9,
                    res.error[:80],
                    time_scale,
                    routing.get("predicted_ms", ""),
                    routing.get("reasoning", ""),
                ]
            )


# --- main -------------------------------------------------------------------------------------
def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = doc_parser(__doc__)
    p.add_argument(
        "--profiles",
        nargs="+",
        default=[MIXED],
        help="fleet profiles (YAML); 'unlike' = bench/policy.py's named unlike fleet (issue 15: "
        "a fast 4-slot GPU with most models loaded, two mid GPUs with one model each, a CPU box)",
    )
    p.add_argument("--identical", action="store_true", help=f"also run {IDENTICAL}")
    p.add_argument(
        "--strategies",
        help=f"comma-separated (default: {','.join(ALL_STRATEGIES)}; "
        "with --quick: performance,least_connections,round_robin)",
    )
    p.add_argument("--load", type=float, default=0.6, help="fraction of fleet capacity (0.6)")
    p.add_argument(
        "--time-scale",
        type=float,
        help="simulated delays × this (0.1: 10× faster than the profile); default "
        "per profile: "
        + ", ".join(f"{Path(k).stem} {v:g}" for k, v in DEFAULT_TIME_SCALE.items())
        + f", else {FALLBACK_TIME_SCALE:g} (about 14 requests/s wall at 60 %%)",
    )
    p.add_argument(
        "--router-time-scale",
        type=float,
        help="SOLLOL_TIME_SCALE of the stack (default: the fleet's --time-scale, which prices "
        "cold loads as on real GPUs; 1 reproduces the router that ignored the scale)",
    )
    p.add_argument(
        "--duration",
        type=float,
        default=150.0,
        help="arrival window per strategy, WALL seconds (150)",
    )
    p.add_argument(
        "--warmup",
        type=float,
        default=20.0,
        help="first WALL seconds of arrivals excluded from statistics (20)",
    )
    p.add_argument(
        "--drain",
        type=float,
        default=60.0,
        help="WALL seconds to wait for open requests after the last arrival (60)",
    )
    p.add_argument("--seeds", type=int, default=1, help="traces 1..N per strategy (1)")
    p.add_argument(
        "--stream-share",
        type=float,
        default=0.25,
        help="share of chat/generate requests sent with stream=true (TTFT); 0.25",
    )
    p.add_argument(
        "--workload",
        choices=("single", "multi_turn"),
        default="single",
        help="multi_turn: bench/policy.py's conversations and RAG sessions (all streamed)",
    )
    p.add_argument("--csv", help="append one row per request to this CSV file")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--out-dir", default=str(BENCH), help="where fleet_<profile>.png go")
    p.add_argument(
        "--quick",
        action="store_true",
        help="< 3 min: performance, least_connections, round_robin; 30 s window, "
        "8 s warm-up, 12 s drain",
    )
    a = p.parse_args(argv)
    if a.strategies is None:
        a.strategies = (
            "performance,least_connections,round_robin" if a.quick else ",".join(ALL_STRATEGIES)
        )
    if a.quick:
        a.duration, a.warmup, a.drain = 30.0, 8.0, 12.0
    if a.identical and IDENTICAL not in a.profiles:
        a.profiles.append(IDENTICAL)
    a.profiles = [named_profile(p) if p == "unlike" else p for p in a.profiles]
    return a


def named_profile(name: str) -> str:
    """A YAML file holding the DES's named fleet ``name`` (bench/_des_random.py), so the live
    stack runs exactly the fleet bench/policy.py --random-fleets simulates."""
    from _des_random import NAMED

    spec = next(spec for label, spec in NAMED.values() if label == name)
    out = temp_dir("sollol-fleet-profile-") / f"{name}.yaml"
    out.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return str(out)


def run_profile(a: argparse.Namespace, path: str, strategies: Sequence[str]) -> list[str]:
    """Every strategy on one profile; prints its tables; returns the target lines."""
    name = Path(path).stem
    profile = load_profile(ROOT / path)
    multi = a.workload == "multi_turn"
    cap = conversations.capacity(profile) if multi else capacity(profile)
    ts = a.time_scale or DEFAULT_TIME_SCALE.get(path, FALLBACK_TIME_SCALE)
    rate = a.load * cap.total / ts
    traces = {
        seed: multi_turn_trace(seed, rate * ts, a.duration, ts)
        if multi
        else build_trace(profile, seed, rate, a.duration, a.stream_share)
        for seed in range(1, a.seeds + 1)
    }
    for seed, trace in traces.items():
        if not multi:
            check_same_trace(profile, seed, trace)
    n = sum(len(t) for t in traces.values())
    per_class = Counter(r.cls for t in traces.values() for r in t)
    print(f"## {name}\n")
    print(
        f"capacity {cap.total:.2f} requests/s in fleet time (bench/policy.py's definition: "
        + ", ".join(f"{k} {v:.2f}/s" for k, v in cap.per_node.items())
        + f"), i.e. {cap.total / ts:.1f}/s wall at time_scale {ts:g}; offered {a.load:.0%} = "
        f"{rate:.2f} requests/s wall, Poisson."
    )
    print(
        f"arrival window {a.duration:g} s wall = {a.duration / ts:.0f} s fleet time, warm-up "
        f"{a.warmup:g} s wall = {a.warmup / ts:.0f} s excluded, drain ≤ {a.drain:g} s wall; "
        f"seeds 1..{a.seeds}: {n} requests per strategy ("
        + ", ".join(f"{c} {k}" for c, k in sorted(per_class.items()))
        + (
            "); every request streamed; sessions as bench/policy.py --workload multi_turn "
            "generates them for the same seeds.\n"
            if multi
            else f"); {a.stream_share:.0%} of chat/generate streamed; trace identical to "
            "bench/policy.py's for the same seeds (checked).\n"
        ),
        flush=True,
    )
    # the gateway's gevent workers hold 1000 open requests each: a strategy that builds long
    # queues is not also throttled at the door
    settings = scaled_settings(ts)
    if a.router_time_scale is not None:
        settings["time_scale"] = a.router_time_scale
        print(f"router time_scale {a.router_time_scale:g} (the fleet's: {ts:g})\n")
    loads_s = load_times(profile)
    sums = []
    workdir = temp_dir("sollol-fleet-")
    for strategy in strategies:
        runs = []
        for seed, trace in traces.items():
            started = time.monotonic()
            run = run_strategy(
                profile_copy(ROOT / path, ts, workdir),
                strategy,
                ts,
                trace,
                a.warmup,
                a.drain,
                settings,
            )
            runs.append(run)
            if a.csv:
                write_csv(Path(a.csv), name, strategy, seed, trace, run, ts)
            print(
                f"({name} {strategy} seed {seed}: {time.monotonic() - started:.0f} s wall)",
                file=sys.stderr,
                flush=True,
            )
        sums.append(summarize(runs, list(traces.values()), a.warmup, ts, loads_s))
    print("### latency (fleet seconds = wall ÷ time_scale)\n")
    print(latency_table(sums) + "\n")
    print("### ratios (this run's baselines; ≤/≥ where a censored percentile bounds the ratio)\n")
    print(ratio_table(sums) + "\n")
    print(
        "### Celery-queue wait by priority band (fleet seconds, `_sollol_routing.queue_wait_ms`)\n"
    )
    print(wait_table(sums) + "\n")
    print("### where answered requests went\n")
    print(host_table(sums, [nd.name for nd in profile.nodes]) + "\n")
    print("### run health\n")
    print(health_table(sums) + "\n", flush=True)
    if not a.no_plots:
        out = Path(a.out_dir) / f"fleet_{name}.png"
        plot(
            sums,
            f"{name}: live stack, load {a.load:.0%}, time_scale {ts:g}, "
            f"{a.duration / ts:.0f} s fleet time × {a.seeds} seed(s)",
            out,
        )
        shown = out.resolve()
        print(f"plot: {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}\n")
    return targets(name, sums)


def main(argv: Sequence[str] | None = None) -> int:
    a = _args(argv)
    strategies = [s.strip() for s in a.strategies.split(",") if s.strip()]
    print(f"# bench/fleet.py {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    started = time.monotonic()
    lines: list[str] = []
    for path in a.profiles:
        lines += run_profile(a, path, strategies)
    print("### Targets (docs/targets.md), on this run's numbers\n")
    print("\n".join(lines))
    print(f"\n(total {time.monotonic() - started:.0f} s wall)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
