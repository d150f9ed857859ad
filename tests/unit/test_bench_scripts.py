"""The benchmark scripts start (their arguments parse) and RESULTS.md covers each of them; the
pure parts of bench/priority.py do what its tables claim. The benchmarks themselves run for
minutes and are run by hand (bench/RESULTS.md says how)."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench"
SCRIPTS = [
    "policy.py",
    "fleet.py",
    "chaos.py",
    "overhead.py",
    "floor.py",
    "priority.py",
    "bench_router.py",
    "embed.py",
    "fairness.py",
    "placement.py",
]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses_its_arguments(script):
    out = subprocess.run(
        [sys.executable, str(BENCH / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_results_cover_every_script_and_make_target():
    results = (BENCH / "RESULTS.md").read_text(encoding="utf-8")
    for script in SCRIPTS:
        assert f"bench/{script}" in results, script
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = re.findall(r"^(bench-[\w-]+):.*\n\t\S+ (bench/\S+\.py)", makefile, re.M)
    # every benchmark script has its make target (bench_router.py runs under pytest-benchmark)
    assert {s.removeprefix("bench/") for _, s in targets} >= set(SCRIPTS) - {"bench_router.py"}
    for target, script in targets:
        assert (ROOT / script).is_file(), target
        assert f"make {target}" in results, target


@pytest.fixture(scope="module")
def priority():
    sys.path.insert(0, str(BENCH))
    try:
        import priority as module
    finally:
        sys.path.remove(str(BENCH))
    return module


def test_priority_capacity_is_slots_over_service_time(priority):
    assert priority.capacity() == pytest.approx(priority.SLOTS / priority.service_s())
    assert 0.3 < priority.service_s() < 2.0  # 40 tokens at 80 tok/s, two slots sharing


def test_priority_traces(priority):
    rng = random.Random(3)
    crit = priority.poisson(rng, 20.0, 50.0, 9, "critical")
    assert 900 < len(crit) < 1100  # Poisson at 20/s over 50 s
    assert all(0 <= r.at < 50.0 and r.priority == 9 for r in crit)
    trace = priority.merge(crit, priority.poisson(rng, 5.0, 50.0, 1, "batch"))
    assert [r.i for r in trace] == list(range(len(trace)))
    assert [r.at for r in trace] == sorted(r.at for r in trace)
    flat = priority.flatten(trace)
    assert {r.priority for r in flat} == {5}
    assert [(r.at, r.cls, r.i) for r in flat] == [(r.at, r.cls, r.i) for r in trace]
    assert priority.poisson(rng, 0.0, 50.0, 1, "batch") == []
