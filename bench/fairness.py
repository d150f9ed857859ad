"""Fair share between API keys on the LIVE stack: a flooding key does not push another key's
requests at the same priority behind its backlog.

Keys required; every request is ``/api/generate`` at priority 5 with the same ``num_predict``,
so service times are equal and only the order of service differs. Tenant B sends a steady
Poisson stream at ``--b-load`` × capacity; tenant A sends ``--ratio`` × B's rate, which with the
defaults is well above capacity (the fleet is saturated and A's backlog grows for the whole
run). Two fleets (``--fleet``): ``solo``, one host with two slots (the hard case: B nearly
always finds both slots taken by A), and ``pair``, two hosts with four slots each (the slot
count Ollama usually runs with). Three runs on fresh stacks:

    alone     B's trace by itself: the reference
    fair      B's and A's traces together, each with its own key (SOLLOL's round-robin
              insertion into the priority list, sollol/state/fairness.py)
    fifo      the same merged trace, both tenants sending with ONE key: the order a plain FIFO
              queue (any balancer without per-tenant queues) serves them in

Reported per run: B's p50/p99 Celery queue wait and latency (fleet seconds), and the requests
answered per fleet second while the load lasted (completions before the last arrival: A's
throughput, not its arrival rate; FIFO is the work-conserving reference). Targets: B's p99
wait with A flooding within 1.5× of alone; A still uses the capacity B leaves.
bench/fair_timeline.py breaks B's waits down request by request.

    .venv/bin/python bench/fairness.py --quick   # ~3 min
    .venv/bin/python bench/fairness.py           # ~7 min
    .venv/bin/python bench/fairness.py --quick --fleet pair --time-scale 0.25
"""

from __future__ import annotations

import contextlib
import math
import random
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
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
from priority import GEN_TPS, MODEL, PROMPT, PROMPT_TPS, TOKENS, profile  # noqa: E402

from sollol.config import SOLLOLConfig  # noqa: E402
from sollol.embedded_redis import free_port  # noqa: E402
from sollol.sim import physics  # noqa: E402
from sollol.state.connection import connect  # noqa: E402
from sollol.state.keys import KeyStore  # noqa: E402

# the model and requests are bench/priority.py's (40 tokens each); the fleet is its one node of
# two slots ("solo", the hard case) or two nodes of four slots each ("pair")
FLEETS = {"solo": (1, 2), "pair": (2, 4)}  # hosts, slots per host


def service_s(slots: int) -> float:
    """Fleet seconds one request takes on a node with all ``slots`` busy."""
    prompt = physics.count_tokens(PROMPT.format(i=100))
    return physics.prompt_eval_seconds(prompt, PROMPT_TPS, slots) + TOKENS / physics.per_slot_tps(
        GEN_TPS, slots
    )


def capacity(fleet: str = "solo") -> float:
    """Requests per fleet second the fleet sustains with every slot busy."""
    hosts, slots = FLEETS[fleet]
    return hosts * slots / service_s(slots)


def fleet_profile(fleet: str, out_dir: Path, time_scale: float) -> Path:
    """The simulator profile of ``fleet``: priority.py's node, or that node twice with 4 slots."""
    if fleet == "solo":
        return profile(out_dir, time_scale)
    hosts, slots = FLEETS[fleet]
    model = {"size_mb": 2000, "load_s": 2.0, "prompt_tps": PROMPT_TPS, "gen_tps": GEN_TPS}
    nodes = [
        {
            "name": f"gpu-{chr(ord('a') + i)}",
            "port": free_port(),
            "vram_mb": 16384,
            "num_parallel": slots,
            "models": {MODEL: model},
            "loaded": [MODEL],
        }
        for i in range(hosts)
    ]
    path = out_dir / f"fairness-{fleet}.yaml"
    data = {"time_scale": time_scale, "nodes": nodes}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Req:
    at: float  # wall s after the start
    tenant: str  # "A" | "B"
    i: int


def trace(rng: random.Random, rate: float, duration: float, tenant: str) -> list[Req]:
    out, t = [], rng.expovariate(rate)
    while t < duration:
        out.append(Req(t, tenant, 0))
        t += rng.expovariate(rate)
    return out


def merge(*streams: list[Req]) -> list[Req]:
    reqs = sorted((r for s in streams for r in s), key=lambda r: r.at)
    return [Req(r.at, r.tenant, i) for i, r in enumerate(reqs)]


@dataclass
class Run:
    reqs: list[Req]
    results: list[CallResult]
    time_scale: float
    duration: float  # wall s from the first arrival to the last
    t0: float = 0.0  # monotonic time of the first possible arrival

    def of(self, tenant: str) -> list[CallResult]:
        return [res for r, res in zip(self.reqs, self.results, strict=True) if r.tenant == tenant]

    def waits(self, tenant: str) -> list[float]:
        out = []
        for res in self.of(tenant):
            routing = res.final.get("_sollol_routing") or {}
            if res.kind == "answered" and "queue_wait_ms" in routing:
                out.append(float(routing["queue_wait_ms"]) / 1000 / self.time_scale)
        return out

    def latencies(self, tenant: str) -> list[float]:
        return [r.latency / self.time_scale for r in self.of(tenant) if r.kind == "answered"]

    def served_per_s(self, tenant: str) -> float:
        """Requests of ``tenant`` answered while the load lasted (completions before the last
        arrival), per fleet second: its throughput, not its arrival rate."""
        end = self.t0 + self.duration
        answered = sum(1 for r in self.of(tenant) if r.kind == "answered" and r.done <= end)
        return answered / (self.duration / self.time_scale)


def run(
    path: Path,
    time_scale: float,
    reqs: list[Req],
    one_key: bool,
    drain_s: float,
    observe: Callable[[SOLLOLConfig], AbstractContextManager[object]] | None = None,
) -> Run:
    """A fresh stack with keys on; ``reqs`` sent open-loop; ``one_key``: both tenants share a key.
    ``observe``: a context around the load, given the stack's config (bench/fair_timeline.py
    records Redis's command stream with it)."""
    settings = {
        **scaled_settings(time_scale),
        "auth": "on",
        "max_queue_per_host": 100_000,
        "max_queue_total": 100_000,
    }
    results: list[CallResult | None] = [None] * len(reqs)
    last = reqs[-1].at if reqs else 0.0
    with LiveStack(path, "performance", time_scale, settings) as stack:
        assert stack.client is not None and stack.stack is not None
        cfg = stack.stack.cfg
        store = KeyStore(connect(cfg), cfg)
        keys = {t: store.create(f"tenant-{t}-{time.time_ns()}")[0] for t in "AB"}
        if one_key:
            keys["A"] = keys["B"]

        def send(r: Req) -> None:
            body = {
                "model": MODEL,
                "prompt": PROMPT.format(i=r.i),
                "options": {"num_predict": TOKENS},
            }
            headers = {"Authorization": f"Bearer {keys[r.tenant]}"}
            timeout = last - r.at + drain_s + 30.0
            results[r.i] = call(
                stack.client, stack.url, "generate", body, 5, False, timeout, headers
            )

        with observe(cfg) if observe else contextlib.nullcontext():
            t0 = time.monotonic() + 0.3
            threads = []
            for r in reqs:
                time.sleep(max(0.0, t0 + r.at - time.monotonic()))
                th = threading.Thread(target=send, args=(r,), daemon=True)
                th.start()
                threads.append(th)
            end = time.monotonic() + drain_s
            for th in threads:
                th.join(max(0.0, end - time.monotonic()))
        final = [res or CallResult(sent=math.nan, kind="unfinished") for res in list(results)]
    return Run(reqs, final, time_scale, last, t0)


def row(name: str, r: Run) -> list[str]:
    bw, bl = r.waits("B"), r.latencies("B")
    b_total = len(r.of("B"))
    a_rate = r.served_per_s("A") if r.of("A") else 0.0
    return [
        name,
        f"{len(bw)}/{b_total}",
        f"{pct(bw, 50):.2f}",
        f"{pct(bw, 99):.2f}",
        f"{pct(bl, 50):.2f}",
        f"{pct(bl, 99):.2f}",
        f"{a_rate:.2f}" if r.of("A") else "-",
        f"{a_rate + r.served_per_s('B'):.2f}",
    ]


HEADER = ["run", "B answered", "B wait p50 s", "B wait p99 s", "B lat p50 s", "B lat p99 s"]
HEADER += ["A served/s", "A+B served/s"]


def main(argv: list[str] | None = None) -> int:
    parser = doc_parser(__doc__ or "")
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--fleet", choices=sorted(FLEETS), default="solo", help="hosts × slots")
    parser.add_argument("--time-scale", type=float, default=0.1, help="fleet s per wall s")
    parser.add_argument("--b-load", type=float, default=0.1, help="B's rate × capacity")
    parser.add_argument("--ratio", type=float, default=10.0, help="A's rate ÷ B's rate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    duration = 25.0 if args.quick else 60.0  # wall seconds of arrivals
    ts, cap = args.time_scale, capacity(args.fleet)
    rate_b = args.b_load * cap / ts  # per wall second
    rate_a = args.ratio * rate_b
    rng = random.Random(args.seed)
    b = trace(rng, rate_b, duration, "B")
    a = trace(rng, rate_a, duration, "A")
    path = fleet_profile(args.fleet, temp_dir("sollol-fairness-"), ts)
    # A's backlog at the end of the flood, plus slack: every request gets its answer
    backlog_s = max(0.0, (rate_a + rate_b) * duration / (cap / ts) - duration)
    drain = backlog_s + 30.0
    hosts, slots = FLEETS[args.fleet]
    print(
        f"{hosts} host(s) × {slots} slots, capacity {cap:.2f} req/s (fleet); B "
        f"{args.b_load:.2f}× capacity, A {args.ratio:g}× B = {args.b_load * args.ratio:.2f}× "
        f"capacity; {len(b)} B and {len(a)} A requests over {duration / ts:.0f} fleet s",
        flush=True,
    )
    alone = run(path, ts, merge(b), one_key=False, drain_s=30.0)
    fair = run(path, ts, merge(a, b), one_key=False, drain_s=drain)
    fifo = run(path, ts, merge(a, b), one_key=True, drain_s=drain)
    rows = [row("B alone", alone), row("A floods, fair share", fair)]
    print(md_table(HEADER, [*rows, row("A floods, one FIFO", fifo)]))
    ref = pct(alone.waits("B"), 99)
    ref_lat = pct(alone.latencies("B"), 99)
    print(
        f"\nB p99 wait: fair {pct(fair.waits('B'), 99):.2f} s vs alone {ref:.2f} s "
        f"({pct(fair.waits('B'), 99) / ref:.2f}×); FIFO {pct(fifo.waits('B'), 99):.2f} s. "
        f"B p99 latency: fair {pct(fair.latencies('B'), 99) / ref_lat:.2f}× alone, FIFO "
        f"{pct(fifo.latencies('B'), 99) / ref_lat:.2f}× alone. A served (completions while the "
        f"load lasted) {fair.served_per_s('A'):.2f}/s with fair share, "
        f"{fifo.served_per_s('A'):.2f}/s in one FIFO; capacity {cap:.2f}/s, B sends "
        f"{args.b_load * cap:.2f}/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
