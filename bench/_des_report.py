"""Aggregation, markdown tables and plots for bench/policy.py."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from _des import Job

__all__ = ["PRIORITY_BANDS", "Outcome", "Summary", "outcome_of", "summarize"]

PRIORITY_BANDS = (("p9-10", 9, 10), ("p5", 5, 5), ("p1-2", 1, 2))


@dataclass
class Outcome:
    """Per-request measurements of one run (requests that arrived after the warm-up)."""

    latency: np.ndarray
    ttft: np.ndarray
    wait: np.ndarray
    cold: np.ndarray
    priority: np.ndarray
    hosts: dict[str, int]


def outcome_of(jobs: Iterable[Job], warmup: float, horizon: float) -> Outcome:
    kept = [j for j in jobs if warmup <= j.arrival < horizon and j.done >= 0]
    hosts: dict[str, int] = {}
    for j in kept:
        hosts[j.host] = hosts.get(j.host, 0) + 1
    return Outcome(
        latency=np.array([j.done - j.arrival for j in kept]),
        ttft=np.array([j.first - j.arrival for j in kept]),
        wait=np.array([j.start - j.arrival for j in kept]),
        cold=np.array([j.cold for j in kept], dtype=bool),
        priority=np.array([j.profile.priority for j in kept]),
        hosts=hosts,
    )


@dataclass
class Summary:
    """One (profile, load, strategy) cell: pooled over seeds, plus each seed's p50/p99."""

    n: int
    p50: float
    p95: float
    p99: float
    ttft_p50: float
    ttft_p99: float
    cold: float  # fraction of requests that found their model not resident
    wait_p99: dict[str, float]  # priority band → p99 Celery-queue wait
    seed_p50: list[float] = field(default_factory=list)
    seed_p99: list[float] = field(default_factory=list)
    hosts: dict[str, float] = field(default_factory=dict)  # share of requests per host


def _pct(a: np.ndarray, q: float) -> float:
    return float(np.percentile(a, q)) if a.size else float("nan")


def summarize(outcomes: Sequence[Outcome]) -> Summary:
    lat = np.concatenate([o.latency for o in outcomes])
    ttft = np.concatenate([o.ttft for o in outcomes])
    wait = np.concatenate([o.wait for o in outcomes])
    prio = np.concatenate([o.priority for o in outcomes])
    cold = np.concatenate([o.cold for o in outcomes])
    bands = {name: _pct(wait[(prio >= lo) & (prio <= hi)], 99) for name, lo, hi in PRIORITY_BANDS}
    hosts: dict[str, float] = {}
    for o in outcomes:
        for h, c in o.hosts.items():
            hosts[h] = hosts.get(h, 0) + c
    total = sum(hosts.values()) or 1
    return Summary(
        n=int(lat.size),
        p50=_pct(lat, 50),
        p95=_pct(lat, 95),
        p99=_pct(lat, 99),
        ttft_p50=_pct(ttft, 50),
        ttft_p99=_pct(ttft, 99),
        cold=float(cold.mean()) if cold.size else 0.0,
        wait_p99=bands,
        seed_p50=[_pct(o.latency, 50) for o in outcomes],
        seed_p99=[_pct(o.latency, 99) for o in outcomes],
        hosts={h: c / total for h, c in sorted(hosts.items())},
    )


def fmt(x: float) -> str:
    if math.isnan(x):
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


Cells = dict[tuple[float, str], Summary]


def latency_table(cells: Cells, loads: Sequence[float], strategies: Sequence[str]) -> str:
    rows = [
        "| load | strategy | p50 s | p95 s | p99 s | TTFT p50 s | TTFT p99 s | cold loads |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for load in loads:
        for s in strategies:
            c = cells[(load, s)]
            rows.append(
                f"| {load:.0%} | {s} | {fmt(c.p50)} | {fmt(c.p95)} | {fmt(c.p99)} | "
                f"{fmt(c.ttft_p50)} | {fmt(c.ttft_p99)} | {c.cold:.2%} |"
            )
    return "\n".join(rows)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b > 0 else "–"


def _seed_range(mine: Sequence[float], theirs: Sequence[float]) -> str:
    r = [a / b for a, b in zip(mine, theirs, strict=True) if b > 0]
    return f"{min(r):.2f}–{max(r):.2f}" if r else "–"


def ratio_table(cells: Cells, loads: Sequence[float], strategies: Sequence[str]) -> str:
    """performance ÷ each baseline (pooled percentiles; per-seed range in brackets)."""
    base = [
        s for s in ("least_connections", "round_robin", "priority", "random") if s in strategies
    ]
    head = "| load | " + " | ".join(f"p50 ÷ {b} | p99 ÷ {b}" for b in base) + " | perf cold |"
    rows = [head, "|---:|" + "---:|" * (2 * len(base) + 1)]
    for load in loads:
        me = cells[(load, "performance")]
        parts = []
        for b in base:
            c = cells[(load, b)]
            parts.append(f"{_ratio(me.p50, c.p50)} ({_seed_range(me.seed_p50, c.seed_p50)})")
            parts.append(f"{_ratio(me.p99, c.p99)} ({_seed_range(me.seed_p99, c.seed_p99)})")
        rows.append(f"| {load:.0%} | " + " | ".join(parts) + f" | {me.cold:.2%} |")
    return "\n".join(rows)


def priority_table(cells: Cells, loads: Sequence[float], strategies: Sequence[str]) -> str:
    names = [b[0] for b in PRIORITY_BANDS]
    rows = [
        "| load | strategy | " + " | ".join(f"p99 wait {n} s" for n in names) + " |",
        "|---:|---|" + "---:|" * len(names),
    ]
    for load in loads:
        for s in strategies:
            c = cells[(load, s)]
            rows.append(
                f"| {load:.0%} | {s} | " + " | ".join(fmt(c.wait_p99[n]) for n in names) + " |"
            )
    return "\n".join(rows)


def host_table(cells: Cells, load: float, strategies: Sequence[str]) -> str:
    hosts = sorted({h for s in strategies for h in cells[(load, s)].hosts})
    rows = [
        f"| strategy (load {load:.0%}) | " + " | ".join(hosts) + " |",
        "|---|" + "---:|" * len(hosts),
    ]
    for s in strategies:
        share = cells[(load, s)].hosts
        rows.append(f"| {s} | " + " | ".join(f"{share.get(h, 0.0):.0%}" for h in hosts) + " |")
    return "\n".join(rows)


def plot(
    cells: Cells, loads: Sequence[float], strategies: Sequence[str], title: str, path: str
) -> None:
    """One 2×2 figure: latency percentiles, TTFT, cold-load fraction, per-priority p99 wait."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    x = [100 * load for load in loads]
    styles = {"p50": ":", "p95": "--", "p99": "-"}
    ax = axes[0][0]
    for s in strategies:
        color = None
        for q, ls in styles.items():
            line = ax.plot(
                x,
                [getattr(cells[(load, s)], q) for load in loads],
                ls,
                color=color,
                marker="o",
                ms=3,
                label=f"{s} {q}" if q == "p99" else None,
            )
            color = line[0].get_color()
    ax.set(
        title="latency p50 (dotted) / p95 (dashed) / p99 (solid)",
        xlabel="load % of capacity",
        ylabel="seconds",
        yscale="log",
    )
    ax.legend(fontsize=8)
    ax = axes[0][1]
    for s in strategies:
        line = ax.plot(x, [cells[(load, s)].ttft_p50 for load in loads], ":", marker="o", ms=3)
        ax.plot(
            x,
            [cells[(load, s)].ttft_p99 for load in loads],
            "-",
            marker="o",
            ms=3,
            color=line[0].get_color(),
            label=s,
        )
    ax.set(
        title="time to first token p50 (dotted) / p99 (solid)",
        xlabel="load % of capacity",
        ylabel="seconds",
        yscale="log",
    )
    ax.legend(fontsize=8)
    ax = axes[1][0]
    for s in strategies:
        ax.plot(x, [100 * cells[(load, s)].cold for load in loads], marker="o", ms=3, label=s)
    ax.axhline(2.0, color="grey", lw=0.8, ls="--")
    ax.set(
        title="requests that found their model cold (%)", xlabel="load % of capacity", ylabel="%"
    )
    ax.legend(fontsize=8)
    ax = axes[1][1]
    band_styles = {"p9-10": "-", "p5": "--", "p1-2": ":"}
    for s in strategies:
        color = None
        for band, ls in band_styles.items():
            line = ax.plot(
                x,
                [max(1e-3, cells[(load, s)].wait_p99[band]) for load in loads],
                ls,
                color=color,
                marker="o",
                ms=3,
                label=s if band == "p9-10" else None,
            )
            color = line[0].get_color()
    ax.set(
        title="p99 queue wait: p9-10 (solid), p5 (dashed), p1-2 (dotted)",
        xlabel="load % of capacity",
        ylabel="seconds",
        yscale="log",
    )
    ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
