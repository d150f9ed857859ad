"""Routing policies compared in a deterministic discrete-event simulation of a SOLLOL fleet.

The SAME ``sollol.router.Router`` that the gateway runs decides every request; the fleet is a
model (bench/_des.py) of the SAME profiles the live simulator serves, with the SAME formulas
(``sollol.sim.physics``). Every strategy sees the same arrival trace per (profile, seed, load)
(common random numbers); several seeds; warm-up excluded. Output is reproducible: the same flags
print the same tables and draw the same plots.

    .venv/bin/python bench/policy.py                # full run (~5–10 min on 2 cores)
    .venv/bin/python bench/policy.py --quick        # smoke run (< 60 s)
    .venv/bin/python bench/policy.py --profiles deploy/sim/mixed.yaml --loads 0.5,0.75 --seeds 3

Targets (docs/targets.md), mixed profile at 50–75 % load: performance p99 ≤ 0.5× least_connections and
≤ 0.4× round_robin, p50 ≤ 0.7× least_connections, cold loads ≤ 2 % of requests; identical
nodes: within 5 % of least_connections (p50 and p99). ``--check`` exits 1 if one is missed.

    .venv/bin/python bench/policy.py --quick --workload multi_turn   # prompt-cache workload
    .venv/bin/python bench/policy.py --quick --random-fleets 20      # unseen random fleets

``--workload multi_turn`` replays chat conversations and RAG sessions with shared prefixes
(bench/_des_conversations.py) and adds the ``affinity`` baseline (performance with plain
session affinity instead of the prefix record). ``--random-fleets N`` runs the named unlike
fleet and N seeded random profiles (bench/_des_random.py) instead of ``--profiles``, at loads
relative to a per-class capacity (bench/_des_capacity.py), and prints each one's p50/p99 ratio
to least_connections (targets there: p50 ≤ 0.9×, p99 ≤ 0.5×); ``--fleets`` picks some of them,
``--oracle`` adds the clairvoyant yardsticks (bench/_des_oracle.py; in the other modes name
them in ``--strategies``: ``oracle``, ``oracle_ttft``, ``oracle_blind``). An explicit
``--loads`` wins over ``--quick``:

    .venv/bin/python bench/policy.py --quick --random-fleets 20 --oracle --loads 0.4,0.6,0.8

A strategy named ``<name>+late`` runs under late binding (bench/_des_late.py: a request whose
host is busy waits in one shared queue until a worker anywhere frees), a what-if SOLLOL does
not implement:

    .venv/bin/python bench/policy.py --quick --workload multi_turn \
        --profiles deploy/sim/identical.yaml \
        --strategies performance,least_connections,performance+late,least_connections+late
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

import _des_compare as compare  # noqa: E402
import _des_conversations as conversations  # noqa: E402
import _des_report as report  # noqa: E402
from _des import Simulation  # noqa: E402
from _des_capacity import class_capacity  # noqa: E402
from _des_late import LateBinding, split_late  # noqa: E402
from _des_oracle import ORACLES, Oracle  # noqa: E402
from _des_random import fleet_name, random_fleet, summary  # noqa: E402
from _des_workload import capacity, make_jobs, unit_trace  # noqa: E402

from sollol.router import STRATEGIES, Router, Tuning  # noqa: E402
from sollol.sim.profile import FleetProfile, load_profile  # noqa: E402

DEFAULT_PROFILES = ("deploy/sim/mixed.yaml", "deploy/sim/identical.yaml")
DEFAULT_LOADS = (0.25, 0.4, 0.5, 0.6, 0.75, 0.9, 1.0, 1.1)
TARGET_LOADS = (0.5, 0.6, 0.75)


@dataclass(frozen=True)
class RunSpec:
    profile_path: str
    strategy: str
    load: float  # fraction of capacity
    seed: int
    duration: float  # arrival window, s
    warmup: float  # s excluded from statistics
    report_active: bool
    cache_s: float  # the gateway's snapshot cache period
    heartbeat_s: float  # how often workers republish resident models
    workload: str = "single"  # single | multi_turn
    fleet_seed: int = 0  # ≠ 0: the random (or named, < 0) fleet of this seed, not profile_path


# A random fleet's run lasts long enough for this many arrivals (a fleet whose bottleneck is a
# CPU box sustains a few requests a minute); its warm-up stretches by the same factor.
MIN_FLEET_REQUESTS = 3000


def profile_of(spec: RunSpec) -> FleetProfile:
    if spec.fleet_seed != 0:
        return random_fleet(spec.fleet_seed)
    return load_profile(BENCH.parent / spec.profile_path)


@functools.cache
def fleet_capacity(fleet_seed: int) -> float:
    """Requests/s of the single-turn mix a random fleet sustains (per-class linear programme)."""
    return class_capacity(random_fleet(fleet_seed)).total


def router_for(strategy: str, seed: int) -> Router:
    """The strategy's router; ``affinity`` is performance with plain session affinity."""
    rng = random.Random(seed * 7919 + 17)
    if strategy == "affinity":
        return Router("performance", rng=rng, tuning=Tuning(prefix_routing=False))
    return Router(strategy, rng=rng)


def run_one(spec: RunSpec) -> report.Outcome:
    """One simulation: a strategy on the (profile, seed) trace at ``load`` × capacity."""
    profile = profile_of(spec)
    strategy, late = split_late(spec.strategy)
    if late and strategy in ORACLES:
        raise SystemExit(f"{spec.strategy}: the clairvoyant routers bind on arrival only")
    if spec.workload == "multi_turn":
        rate = spec.load * conversations.capacity(profile).total
        jobs = conversations.multi_turn_jobs(spec.seed, rate, spec.duration)
    elif spec.fleet_seed != 0:
        rate = spec.load * fleet_capacity(spec.fleet_seed)
        stretch = max(1.0, MIN_FLEET_REQUESTS / (rate * (spec.duration - spec.warmup)))
        spec = dataclasses.replace(
            spec, duration=spec.duration * stretch, warmup=spec.warmup * stretch
        )
        trace = unit_trace(profile, spec.seed, n=max(1, int(rate * spec.duration)))
        jobs = make_jobs(trace, rate)
    else:
        rate = spec.load * capacity(profile).total
        trace = unit_trace(profile, spec.seed, n=max(1, int(rate * spec.duration)))
        jobs = make_jobs(trace, rate)
    router: Router | Oracle = (
        Oracle(jobs, strategy) if strategy in ORACLES else router_for(strategy, spec.seed)
    )
    sim = (LateBinding if late else Simulation)(
        profile,
        router,  # type: ignore[arg-type]
        learn_active=spec.report_active,
        cache_s=spec.cache_s,
        heartbeat_s=spec.heartbeat_s,
    )
    if isinstance(router, Oracle):
        router.sim = sim
    sim.run(jobs)
    if isinstance(sim, LateBinding):
        print(
            f"({spec.strategy}, load {spec.load:.0%}, seed {spec.seed}: {sim.held} of "
            f"{len(jobs)} requests waited in the shared queue)",
            file=sys.stderr,
        )
    return report.outcome_of(jobs, spec.warmup, spec.duration)


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--profiles", nargs="+", default=list(DEFAULT_PROFILES))
    p.add_argument(
        "--loads",
        default=None,
        help="fractions of fleet capacity, comma-separated (an explicit value wins over --quick)",
    )
    p.add_argument("--seeds", type=int, default=5, help="seeds 1..N (default 5)")
    p.add_argument("--duration", type=float, default=3600.0, help="arrival window, seconds")
    p.add_argument("--warmup", type=float, default=300.0, help="excluded from statistics, s")
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--jobs", type=int, default=2, help="worker processes")
    p.add_argument(
        "--report-active",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="workers report concurrency with their timing samples (TimingSample.active)"
        ", as the live worker does; --no-report-active for the ablation",
    )
    p.add_argument(
        "--cache-ms",
        type=float,
        default=250.0,
        help="gateway snapshot cache period (SOLLOL_SNAPSHOT_CACHE_MS; 0 = exact view)",
    )
    p.add_argument(
        "--heartbeat-s",
        type=float,
        default=2.0,
        help="how often workers republish resident models (0 = exact view)",
    )
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--out-dir", default=str(BENCH))
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: loads 0.5,0.75 (unless --loads), 2 seeds, 1200 s, warm-up 200 s",
    )
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--workload", choices=("single", "multi_turn"), default="single")
    p.add_argument(
        "--random-fleets",
        type=int,
        default=0,
        help="run the named unlike fleet and N seeded random fleets instead",
    )
    p.add_argument(
        "--oracle",
        action="store_true",
        help="with --random-fleets: also the clairvoyant router, knowing answer lengths "
        "(oracle) and not (oracle_blind; bench/_des_oracle.py)",
    )
    p.add_argument(
        "--fleets", default="", help="with --random-fleets: only these fleet seeds (-1 = unlike)"
    )
    a = p.parse_args(argv)
    if a.quick:
        a.seeds, a.duration, a.warmup = 2, 1200.0, 200.0
    if a.loads is None:
        a.loads = "0.5,0.75" if a.quick else ",".join(map(str, DEFAULT_LOADS))
    return a


def simulate(
    a: argparse.Namespace,
    path: str,
    loads: Sequence[float],
    strategies: Sequence[str],
    fleet_seed: int = 0,
) -> report.Cells:
    seeds = range(1, a.seeds + 1)
    keys = [(load, s, seed) for load in loads for s in strategies for seed in seeds]
    specs = [
        RunSpec(
            path,
            s,
            load,
            seed,
            a.duration,
            a.warmup,
            a.report_active,
            a.cache_ms / 1000.0,
            a.heartbeat_s,
            a.workload,
            fleet_seed,
        )
        for load, s, seed in keys
    ]
    if a.jobs > 1:
        with ProcessPoolExecutor(a.jobs) as pool:
            outcomes = list(pool.map(run_one, specs, chunksize=1))
    else:
        outcomes = [run_one(x) for x in specs]
    by_cell: dict[tuple[float, str], list[report.Outcome]] = {}
    for (load, s, _), o in zip(keys, outcomes, strict=True):
        by_cell.setdefault((load, s), []).append(o)
    return {k: report.summarize(v) for k, v in by_cell.items()}


def describe(profile: FleetProfile, path: str) -> str:
    cap = capacity(profile)
    nodes = ", ".join(f"{n} {r:.2f}/s" for n, r in cap.per_node.items())
    return (
        f"capacity of {path}: {cap.total:.2f} requests/s (generative requests at each "
        f"node's fastest resident model: {nodes}; ÷ the generative share, embeddings ride "
        f"along; mean prompt {cap.mean_prompt:.0f} tokens, mean output "
        f"{cap.mean_output:.0f} tokens)"
    )


def check(name: str, cells: report.Cells, loads: Sequence[float]) -> list[str]:
    """Target misses for one profile, as sentences."""
    missed = []
    for load in (x for x in loads if x in TARGET_LOADS):
        me = cells.get((load, "performance"))
        lc, rr = cells.get((load, "least_connections")), cells.get((load, "round_robin"))
        if me is None or lc is None:
            continue
        if "identical" in name:
            for q in ("p50", "p99"):
                r = getattr(me, q) / getattr(lc, q)
                if r > 1.05:
                    missed.append(f"{name} {load:.0%}: {q} {r:.3f}× least_connections > 1.05")
            continue
        if me.p99 > 0.5 * lc.p99:
            missed.append(f"{name} {load:.0%}: p99 {me.p99 / lc.p99:.2f}× least_connections")
        if me.p50 > 0.7 * lc.p50:
            missed.append(f"{name} {load:.0%}: p50 {me.p50 / lc.p50:.2f}× least_connections")
        if rr is not None and me.p99 > 0.4 * rr.p99:
            missed.append(f"{name} {load:.0%}: p99 {me.p99 / rr.p99:.2f}× round_robin")
        if me.cold > 0.02:
            missed.append(f"{name} {load:.0%}: cold loads {me.cold:.2%} > 2 %")
    return missed


def main(argv: Sequence[str] | None = None) -> int:
    a = _args(argv)
    loads = [float(x) for x in a.loads.split(",")]
    strategies = [s.strip() for s in a.strategies.split(",")]
    print(f"# bench/policy.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(
        f"seeds 1..{a.seeds}, arrival window {a.duration:.0f} s, warm-up {a.warmup:.0f} s "
        f"excluded; snapshot cache {a.cache_ms:.0f} ms + local deltas, heartbeat "
        f"{a.heartbeat_s:g} s; workers report concurrency: {a.report_active}\n"
    )
    if a.random_fleets:
        return random_fleets(a, loads)
    missed: list[str] = []
    if a.workload == "multi_turn" and "affinity" not in strategies:
        strategies.insert(1, "affinity")
    for path in a.profiles:
        started = time.perf_counter()
        profile = load_profile(BENCH.parent / path)
        name = Path(path).stem
        print(f"## {name}\n\n{describe(profile, path)}\n")
        if a.workload == "multi_turn":
            print(conversations.describe(profile) + "\n")
        cells = simulate(a, path, loads, strategies)
        if a.workload == "multi_turn":
            print("### multi-turn: TTFT and latency ÷ least_connections (pooled over seeds)\n")
            print(compare.multi_turn_table(cells, loads, strategies) + "\n")
            missed += compare.multi_turn_check(name, cells, loads)
        print("### latency (seconds, pooled over seeds)\n")
        print(report.latency_table(cells, loads, strategies) + "\n")
        if "performance" in strategies and len(strategies) > 1:
            print("### performance ÷ baseline (pooled; range over seeds in brackets)\n")
            print(report.ratio_table(cells, loads, strategies) + "\n")
        print("### p99 Celery-queue wait by priority band (seconds)\n")
        print(report.priority_table(cells, loads, strategies) + "\n")
        mid = min(loads, key=lambda x: abs(x - 0.75))
        print("### where requests went\n")
        print(report.host_table(cells, mid, strategies) + "\n")
        if not a.no_plots:
            out = Path(a.out_dir) / f"policy_{name}.png"
            report.plot(
                cells,
                loads,
                strategies,
                f"{name}: {a.seeds} seeds × {a.duration:.0f} s per point",
                str(out),
            )
            shown = out.resolve()
            if shown.is_relative_to(BENCH.parent):
                shown = shown.relative_to(BENCH.parent)
            print(f"plot: {shown}\n")
        if a.workload == "single":
            missed += check(name, cells, loads)
        print(f"({name}: {time.perf_counter() - started:.0f} s of computation)\n", file=sys.stderr)
    print("### targets\n")
    print("\n".join(f"- MISSED {m}" for m in missed) if missed else "- all targets met")
    return 1 if (missed and a.check) else 0


def random_fleets(a: argparse.Namespace, loads: Sequence[float]) -> int:
    """performance vs least_connections on ``a.random_fleets`` seeded random fleets."""
    print("## random fleets: performance ÷ least_connections (latency, pooled over seeds)\n")
    print(
        "| fleet | load | perf p50 | LC p50 | p50 ratio | perf p99 | LC p99 | p99 ratio "
        + (
            "| oracle p50 ratio | oracle p99 ratio | blind p50 ratio | blind p99 ratio "
            if a.oracle
            else ""
        )
        + "| capacity: nodes |"
    )
    print("|" + "---|" * (13 if a.oracle else 9))
    missed: list[str] = []
    fleets = [int(x) for x in a.fleets.split(",")] if a.fleets else [-1]
    if not a.fleets:
        fleets += range(1, a.random_fleets + 1)
    for k in fleets:
        strategies = ["performance", "least_connections"]
        strategies += ["oracle", "oracle_blind"] if a.oracle else []
        cells = simulate(a, "", loads, strategies, fleet_seed=k)
        what = f"{fleet_capacity(k):.3g}/s: {summary(random_fleet(k))}"
        for load in loads:
            row, miss = compare.fleet_row(
                fleet_name(k),
                load,
                cells[(load, "performance")],
                cells[(load, "least_connections")],
                what,
                cells.get((load, "oracle")),
                cells.get((load, "oracle_blind")),
            )
            print(row, flush=True)
            missed += miss
    print("\n### targets\n")
    print("\n".join(f"- MISSED {m}" for m in missed) if missed else "- all targets met")
    return 1 if (missed and a.check) else 0


if __name__ == "__main__":
    sys.exit(main())
