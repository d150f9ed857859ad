"""Tables of bench/policy.py's multi-turn and random-fleet modes: each strategy ÷
least_connections, and the target checks of those modes."""

from __future__ import annotations

from collections.abc import Sequence

from _des_report import Cells, Summary

__all__ = ["fleet_row", "multi_turn_check", "multi_turn_table"]

BASE = "least_connections"


def _r(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "–"


def multi_turn_table(cells: Cells, loads: Sequence[float], strategies: Sequence[str]) -> str:
    """TTFT and latency p50/p99 (s) and each ÷ least_connections; throughput = completions in
    the measured window ÷ least_connections' (the arrivals are the same open-loop trace)."""
    head = (
        "| load | strategy | TTFT p50 | TTFT p99 | latency p50 | latency p99 | TTFT p50 ÷ LC "
        "| TTFT p99 ÷ LC | lat p50 ÷ LC | lat p99 ÷ LC | throughput ÷ LC |"
    )
    rows = [head, "|" + "---|" * 11]
    for load in loads:
        lc = cells.get((load, BASE))
        for s in strategies:
            c = cells.get((load, s))
            if c is None or lc is None:
                continue
            rows.append(
                f"| {load:.0%} | {s} | {c.ttft_p50:.3f} | {c.ttft_p99:.2f} | {c.p50:.2f} | "
                f"{c.p99:.2f} | {_r(c.ttft_p50, lc.ttft_p50)} | {_r(c.ttft_p99, lc.ttft_p99)} | "
                f"{_r(c.p50, lc.p50)} | {_r(c.p99, lc.p99)} | {_r(c.n, lc.n)} |"
            )
    return "\n".join(rows)


def multi_turn_check(name: str, cells: Cells, loads: Sequence[float]) -> list[str]:
    """TTFT p50 ≤ 0.3× and p99 ≤ 0.5× least_connections at 50–75 % load; on the identical
    fleet also throughput within 5 %."""
    missed = []
    for load in (x for x in loads if 0.5 <= x <= 0.75):
        me, lc = cells.get((load, "performance")), cells.get((load, BASE))
        if me is None or lc is None:
            continue
        if me.ttft_p50 > 0.3 * lc.ttft_p50:
            missed.append(f"{name} {load:.0%}: TTFT p50 {me.ttft_p50 / lc.ttft_p50:.2f}× LC > 0.3")
        if me.ttft_p99 > 0.5 * lc.ttft_p99:
            missed.append(f"{name} {load:.0%}: TTFT p99 {me.ttft_p99 / lc.ttft_p99:.2f}× LC > 0.5")
        if "identical" in name and abs(me.n / lc.n - 1.0) > 0.05:
            missed.append(f"{name} {load:.0%}: throughput {me.n / lc.n:.3f}× LC")
    return missed


def fleet_row(
    k: str,
    load: float,
    me: Summary,
    lc: Summary,
    what: str,
    oracle: Summary | None = None,
    blind: Summary | None = None,
) -> tuple[str, list[str]]:
    """One random fleet at one load: a table row and the misses of p50 ≤ 0.9×, p99 ≤ 0.5×;
    with ``oracle`` and ``blind``, also the clairvoyant router's ratios to least_connections,
    knowing answer lengths and not."""
    r50, r99 = me.p50 / lc.p50, me.p99 / lc.p99
    miss = []
    if r50 > 0.9:
        miss.append(f"fleet {k} {load:.0%}: p50 {r50:.2f}× least_connections > 0.9")
    if r99 > 0.5:
        miss.append(f"fleet {k} {load:.0%}: p99 {r99:.2f}× least_connections > 0.5")
    flag = "" if not miss else " ✗"
    row = (
        f"| {k} | {load:.0%} | {me.p50:.2f} | {lc.p50:.2f} | {r50:.2f}× | {me.p99:.2f} | "
        f"{lc.p99:.2f} | {r99:.2f}×{flag} | "
        + (f"{_r(oracle.p50, lc.p50)} | {_r(oracle.p99, lc.p99)} | " if oracle else "")
        + (f"{_r(blind.p50, lc.p50)} | {_r(blind.p99, lc.p99)} | " if blind else "")
        + f"{what} |"
    )
    return row, miss
