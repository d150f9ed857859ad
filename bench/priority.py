"""Priorities on the LIVE stack: critical work stays fast as batch load grows; batch work is
never starved.

The priority targets of docs/targets.md, measured end to end (gateway → kombu priority lists in Redis →
Celery worker → simulated node) on one saturated host, so every request competes for the same
two slots:

1. **Critical work stays fast.** A steady Poisson stream of priority-9 requests (``--critical``
   × capacity) while priority-1 load grows from 0 to ``--max-batch`` × capacity. The p99 Celery
   queue wait of the priority-9 requests (``_sollol_routing.queue_wait_ms``) should stay flat.
   Baseline in the same run: the very same traces sent without priorities (all priority 5,
   i.e. one FIFO queue, which is what a balancer without priorities does).
2. **Batch work is never starved.** Priority-10 load above capacity (``--flood`` × capacity)
   with a trickle of priority-1 requests, with queue aging on (SOLLOL's default step, scaled)
   and off (step = 10⁹ s). Without aging a priority-1 request waits until the flood stops; with
   it, it climbs one level per step and is served while the flood goes on.

    .venv/bin/python bench/priority.py --quick   # ~4 min
    .venv/bin/python bench/priority.py           # ~9 min

Times are reported in the fleet's own seconds (wall ÷ ``--time-scale``), as in bench/fleet.py.
Every request is ``/api/generate`` with ``options.num_predict`` fixed, so service times are
the same for every priority and the only thing that differs is the order of service.
Every number printed is measured in this run.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import yaml  # noqa: E402
from _live import (  # noqa: E402
    CallResult,
    LiveStack,
    call,
    doc_parser,
    md_table,
    pct,
    scaled_settings,
    temp_dir,
)

from sollol.embedded_redis import free_port  # noqa: E402
from sollol.sim import physics  # noqa: E402

MODEL = "llama3.2"
SLOTS = 2
PROMPT_TPS, GEN_TPS = 2000.0, 80.0
PROMPT = "Write one line about the sea, request {i}."
TOKENS = 40  # num_predict of every request
NO_AGING_S = 1e9


@dataclass(frozen=True)
class Req:
    at: float  # wall s after the start of the run
    priority: int  # what the client asks for
    cls: str  # "critical" | "batch" (the class the statistics group by)
    i: int


def service_s() -> float:
    """Fleet seconds one request takes on the node with both slots busy."""
    prompt = physics.count_tokens(PROMPT.format(i=100))
    return physics.prompt_eval_seconds(prompt, PROMPT_TPS, SLOTS) + TOKENS / physics.per_slot_tps(
        GEN_TPS, SLOTS
    )


def capacity() -> float:
    """Requests per fleet second the node sustains."""
    return SLOTS / service_s()


def profile(out_dir: Path, time_scale: float) -> Path:
    data = {
        "time_scale": time_scale,
        "nodes": [
            {
                "name": "solo",
                "port": free_port(),
                "vram_mb": 16384,
                "num_parallel": SLOTS,
                "models": {
                    MODEL: {
                        "size_mb": 2000,
                        "load_s": 2.0,
                        "prompt_tps": PROMPT_TPS,
                        "gen_tps": GEN_TPS,
                    }
                },
                "loaded": [MODEL],
            }
        ],
    }
    path = out_dir / "priority.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def poisson(rng: random.Random, rate: float, duration: float, priority: int, cls: str) -> list[Req]:
    """Arrivals at ``rate`` per wall second over ``duration`` wall seconds."""
    out: list[Req] = []
    t = rng.expovariate(rate) if rate > 0 else math.inf
    while t < duration:
        out.append(Req(t, priority, cls, 0))
        t += rng.expovariate(rate)
    return out


def merge(*streams: list[Req]) -> list[Req]:
    reqs = sorted((r for s in streams for r in s), key=lambda r: r.at)
    return [Req(r.at, r.priority, r.cls, i) for i, r in enumerate(reqs)]


def flatten(trace: Sequence[Req]) -> list[Req]:
    """The same arrivals with no priorities (everything at 5: one FIFO queue)."""
    return [Req(r.at, 5, r.cls, r.i) for r in trace]


# --- running a trace --------------------------------------------------------------------------
@dataclass
class Outcome:
    trace: list[Req]
    results: list[CallResult]
    wait_s: list[float]  # Celery-queue wait, fleet s (nan when not answered)
    flood_end: float  # monotonic time of the last arrival


def run(
    path: Path, time_scale: float, trace: list[Req], aging_step_s: float | None, drain_s: float
) -> Outcome:
    """One fresh stack, ``trace`` sent open-loop (a thread per request), then a drain.
    ``aging_step_s``: wall s per promotion; None keeps scaled_settings' (the default, scaled)."""
    settings = {
        **scaled_settings(time_scale),
        "max_queue_per_host": 100_000,
        "max_queue_total": 100_000,
    }
    if aging_step_s is not None:
        settings["aging_step_s"] = aging_step_s
    results: list[CallResult | None] = [None] * len(trace)
    last = trace[-1].at if trace else 0.0
    with LiveStack(path, "performance", time_scale, settings) as stack:
        assert stack.client is not None
        client, url = stack.client, stack.url

        def send(r: Req) -> None:
            body = {
                "model": MODEL,
                "prompt": PROMPT.format(i=r.i),
                "options": {"num_predict": TOKENS},
            }
            results[r.i] = call(
                client, url, "generate", body, r.priority, False, last - r.at + drain_s + 30.0
            )

        t0 = time.monotonic() + 0.3
        threads = []
        for r in trace:
            time.sleep(max(0.0, t0 + r.at - time.monotonic()))
            th = threading.Thread(target=send, args=(r,), daemon=True)
            th.start()
            threads.append(th)
        flood_end = time.monotonic()
        end = flood_end + drain_s
        for th in threads:
            th.join(max(0.0, end - time.monotonic()))
        # taken before the stack stops: a request still open now is "unfinished"
        final = [
            res if res is not None else CallResult(sent=math.nan, kind="unfinished")
            for res in list(results)
        ]
    waits = []
    for res in final:
        routing = res.final.get("_sollol_routing") or {}
        ok = res.kind == "answered" and "queue_wait_ms" in routing
        waits.append(float(routing["queue_wait_ms"]) / 1000.0 / time_scale if ok else math.nan)
    return Outcome(trace, final, waits, flood_end)


def waits_of(out: Outcome, cls: str) -> list[float]:
    return [w for r, w in zip(out.trace, out.wait_s, strict=True) if r.cls == cls]


def answered(out: Outcome, cls: str) -> tuple[int, int]:
    rs = [res for r, res in zip(out.trace, out.results, strict=True) if r.cls == cls]
    return sum(res.kind == "answered" for res in rs), len(rs)


def failures(out: Outcome, cls: str) -> str:
    """Requests of ``cls`` not answered, by outcome and message."""
    c = Counter(
        f"{res.kind}: {res.error[:60]}" if res.error else res.kind
        for r, res in zip(out.trace, out.results, strict=True)
        if r.cls == cls and res.kind != "answered"
    )
    return "; ".join(f"{n} {what}" for what, n in c.most_common(3)) or "–"


def fmt(x: float) -> str:
    return "–" if math.isnan(x) else f"{x:.2f}" if x < 10 else f"{x:.1f}"


# --- the two experiments ----------------------------------------------------------------------
def critical_under_batch(a: argparse.Namespace, path: Path, cap_wall: float) -> list[str]:
    levels = [a.max_batch * k / (a.levels - 1) for k in range(a.levels)]
    rows, p99 = [], {}
    for level in levels:
        rng = random.Random(a.seed)
        trace = merge(
            poisson(rng, a.critical * cap_wall, a.window, 9, "critical"),
            poisson(rng, level * cap_wall, a.window, 1, "batch"),
        )
        for mode, tr in (("priorities 9 / 1", trace), ("no priorities (all 5)", flatten(trace))):
            started = time.monotonic()
            out = run(path, a.time_scale, tr, None, a.drain)
            c, b = waits_of(out, "critical"), waits_of(out, "batch")
            ca, cn = answered(out, "critical")
            ba, bn = answered(out, "batch")
            p99[(mode, level)] = pct(c, 99)
            rows.append(
                [
                    f"{level:.2f}×",
                    mode,
                    f"{ca}/{cn}",
                    fmt(pct(c, 50)),
                    fmt(pct(c, 99)),
                    f"{ba}/{bn}",
                    fmt(pct(b, 50)),
                    fmt(pct(b, 99)),
                ]
            )
            print(
                f"(critical {a.critical:.2f}× + batch {level:.2f}×, {mode}: "
                f"{time.monotonic() - started:.0f} s wall)",
                file=sys.stderr,
                flush=True,
            )
    print("### 1. critical work as batch load grows\n")
    print(
        f"priority-9 Poisson load {a.critical:.2f}× capacity, priority-1 load as in the first "
        f"column; {a.window:g} s wall arrival windows ({a.window / a.time_scale:.0f} s fleet "
        "time); queue waits in fleet seconds (`_sollol_routing.queue_wait_ms`).\n"
    )
    print(
        md_table(
            [
                "priority-1 load",
                "sent as",
                "p9 answered",
                "p9 wait p50",
                "p9 wait p99",
                "p1 answered",
                "p1 wait p50",
                "p1 wait p99",
            ],
            rows,
            "rlrrrrrr",
        )
        + "\n"
    )
    lo, hi = levels[0], levels[-1]
    s = service_s()
    with_p = p99[("priorities 9 / 1", hi)] - p99[("priorities 9 / 1", lo)]
    without = p99[("no priorities (all 5)", hi)] - p99[("no priorities (all 5)", lo)]
    ok = with_p <= s
    return [
        f"- p99 wait of priority 9 grows by {with_p:+.2f} s from no batch load to "
        f"{hi:.2f}× (target: flat, i.e. within one service time, {s:.2f} s): "
        f"{'met' if ok else 'MISSED'}; without priorities it grows by {without:+.2f} s"
    ]


def batch_under_flood(a: argparse.Namespace, path: Path, cap_wall: float) -> list[str]:
    rng = random.Random(a.seed + 1)
    trace = merge(
        poisson(rng, a.flood * cap_wall, a.flood_window, 10, "critical"),
        poisson(rng, a.trickle * cap_wall, a.flood_window, 1, "batch"),
    )
    step = max(0.5, 10.0 * a.time_scale)  # scaled_settings' aging step, wall s
    rows, lines = [], []
    for mode, aging in (("aging on", step), ("aging off", NO_AGING_S)):
        started = time.monotonic()
        out = run(path, a.time_scale, trace, aging, a.drain_flood)
        b = waits_of(out, "batch")
        ba, bn = answered(out, "batch")
        # served while the flood was still arriving: started before the last arrival
        during = sum(
            1
            for r, res, w in zip(out.trace, out.results, out.wait_s, strict=True)
            if r.cls == "batch"
            and not math.isnan(w)
            and res.sent + w * a.time_scale < out.flood_end
        )
        c = waits_of(out, "critical")
        rows.append(
            [
                mode,
                f"{ba}/{bn}",
                str(during),
                fmt(pct(b, 50)),
                fmt(pct(b, 99)),
                fmt(max((w for w in b if not math.isnan(w)), default=math.nan)),
                fmt(pct(c, 50)),
                fmt(pct(c, 99)),
                failures(out, "batch"),
            ]
        )
        if mode == "aging on":
            lines.append(
                f"- priority 1 never starved: {during} of {bn} priority-1 requests "
                f"started while the priority-10 flood was still arriving, "
                f"{ba}/{bn} answered: {'met' if during > 0 and ba == bn else 'MISSED'}"
            )
        print(
            f"(flood, {mode}: {time.monotonic() - started:.0f} s wall)", file=sys.stderr, flush=True
        )
    print("### 2. batch work under a flood of critical work\n")
    print(
        f"priority-10 Poisson load {a.flood:.2f}× capacity plus priority-1 at "
        f"{a.trickle:.2f}× for {a.flood_window:g} s wall ({a.flood_window / a.time_scale:.0f} s "
        f"fleet time), then up to {a.drain_flood:g} s wall to drain; aging step "
        f"{step / a.time_scale:.0f} fleet s (SOLLOL's default 10 s, scaled), or none. Waits in "
        "fleet seconds.\n"
    )
    print(
        md_table(
            [
                "queue aging",
                "p1 answered",
                "p1 started during the flood",
                "p1 wait p50",
                "p1 wait p99",
                "p1 wait max",
                "p10 wait p50",
                "p10 wait p99",
                "p1 not answered",
            ],
            rows,
            "lrrrrrrrl",
        )
        + "\n"
    )
    return lines


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    p = doc_parser(__doc__)
    p.add_argument("--time-scale", type=float, default=0.25, help="simulated delays × this")
    p.add_argument("--critical", type=float, default=0.3, help="priority-9 load, × capacity")
    p.add_argument(
        "--max-batch",
        type=float,
        default=1.2,
        help="heaviest priority-1 load, × capacity (experiment 1)",
    )
    p.add_argument("--levels", type=int, default=4, help="priority-1 load levels from 0")
    p.add_argument("--window", type=float, default=30.0, help="arrival window, wall s (exp. 1)")
    p.add_argument("--drain", type=float, default=60.0, help="wall s to wait after arrivals")
    p.add_argument("--flood", type=float, default=1.5, help="priority-10 load, × capacity")
    p.add_argument("--trickle", type=float, default=0.1, help="priority-1 load, × capacity")
    p.add_argument("--flood-window", type=float, default=60.0, help="wall s (exp. 2)")
    p.add_argument("--drain-flood", type=float, default=90.0, help="wall s (exp. 2)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--only", type=int, choices=(1, 2), help="run one experiment")
    p.add_argument("--quick", action="store_true", help="3 levels, 20 s windows, 40 s flood")
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = p.parse_args(argv)
    if a.quick:
        a.levels, a.window, a.flood_window = 3, 20.0, 40.0
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(argv)
    cap = capacity()
    cap_wall = cap / a.time_scale
    workdir = temp_dir("sollol-priority-")
    path = profile(workdir, a.time_scale)
    print(f"# bench/priority.py{' --quick' if a.quick else ''}\n")
    print(
        f"one node, {SLOTS} slots, {MODEL} resident; every request generates {TOKENS} tokens: "
        f"{service_s():.2f} s with both slots busy, capacity {cap:.2f} requests/s fleet time = "
        f"{cap_wall:.1f}/s wall at time_scale {a.time_scale:g}.\n",
        flush=True,
    )
    lines = []
    if a.only in (None, 1):
        lines += critical_under_batch(a, path, cap_wall)
    if a.only in (None, 2):
        lines += batch_under_flood(a, path, cap_wall)
    print("### targets\n")
    print("\n".join(lines))
    missed = any("MISSED" in line for line in lines)
    return 1 if a.check and missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
