"""Placement on the LIVE stack: demand that shifts between models, with and without pre-loading.

Three simulated hosts, two slots each, room for two resident models; three models (``m-a``, ``m-b``,
``m-c``) installed everywhere, one resident per host at the start. Every ``--phase`` fleet
seconds the hot model changes (a → b → c → a ...): it gets ``--hot-share`` of a Poisson stream
of ``--rate`` requests/s, the others share the rest. The hot model's demand is above what its
one resident copy serves, so either a request waits for a second copy to load on another host
(the router's own cold load: the request waits for it) or beat's placement job pre-loads one
first (``placement_enabled``). Both arms are sent the very same trace (same seed), one after
the other on fresh stacks, in the same run.

Reported per arm, in the fleet's own seconds (wall ÷ ``--time-scale``): p50/p99 latency of all
requests, the share of requests that waited for a cold load (their answer's ``load_duration``
is more than half the model's load time) and the pre-loads placement sent.

    .venv/bin/python bench/placement.py --quick   # ~3 min
    .venv/bin/python bench/placement.py           # ~6 min
"""

from __future__ import annotations

import math
import random
import sys
import threading
import time
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

MODELS = ("m-a", "m-b", "m-c")
LOAD_S = 20.0  # fleet seconds to load a model
GEN_TPS = 20.0
TOKENS = 40  # 2 fleet s of generation per request


@dataclass(frozen=True)
class Req:
    i: int
    at: float  # wall seconds after the start
    model: str


def profile(time_scale: float) -> dict[str, object]:
    spec = {"size_mb": 4000, "load_s": LOAD_S, "prompt_tps": 2000, "gen_tps": GEN_TPS}
    nodes = [
        {
            "name": f"pl-{i}",
            "port": free_port(),
            "num_parallel": 2,
            "max_loaded_models": 2,
            "models": dict.fromkeys(MODELS, spec),
            "loaded": [MODELS[i]],
            "keep_alive_s": 300,
        }
        for i in range(3)
    ]
    return {"time_scale": time_scale, "nodes": nodes}


def trace(rate: float, hot_share: float, phase_s: float, phases: int, ts: float) -> list[Req]:
    """Poisson arrivals over ``phases`` × ``phase_s`` fleet seconds (times returned in wall s)."""
    rng = random.Random(14)
    out, t, end = [], 0.0, phase_s * phases
    while True:
        t += rng.expovariate(rate)
        if t >= end:
            return out
        hot = MODELS[int(t // phase_s) % len(MODELS)]
        cold = [m for m in MODELS if m != hot]
        model = hot if rng.random() < hot_share else rng.choice(cold)
        out.append(Req(len(out), t * ts, model))


def run(path: Path, ts: float, reqs: list[Req], placement: bool) -> tuple[list[CallResult], int]:
    settings = {
        **scaled_settings(ts),
        "max_queue_per_host": 100_000,
        "max_queue_total": 100_000,
        "placement_enabled": placement,
        "placement_interval_s": max(0.5, 5.0 * ts),
        "placement_wait_threshold_s": 5.0 * ts,
        "placement_window_s": 30.0 * ts,
        "placement_keep_alive_s": 120.0,  # sent to the node: fleet seconds
        "decisions_kept": 1000,
    }
    results: list[CallResult | None] = [None] * len(reqs)
    with LiveStack(path, "performance", ts, settings) as stack:
        assert stack.client is not None
        client, url = stack.client, stack.url

        def send(r: Req) -> None:
            body = {"model": r.model, "prompt": f"q{r.i}", "options": {"num_predict": TOKENS}}
            results[r.i] = call(client, url, "generate", body, 5, False, 600 * ts + 60)

        t0 = time.monotonic() + 0.3
        threads = []
        for r in reqs:
            time.sleep(max(0.0, t0 + r.at - time.monotonic()))
            th = threading.Thread(target=send, args=(r,), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join(600 * ts + 90)
        alerts = stack.get("/api/alerts")["alerts"]
    placed = sum(1 for a in alerts if a.get("from") == "placement")
    return [r or CallResult(sent=math.nan, kind="unfinished") for r in results], placed


def summary(name: str, res: list[CallResult], placed: int, ts: float) -> list[object]:
    ok = [r for r in res if r.kind == "answered"]
    lat = [r.latency / ts for r in ok]
    cold = sum(1 for r in ok if float(r.final.get("load_duration") or 0) > 0.5 * LOAD_S * ts * 1e9)
    return [
        name,
        f"{len(ok)}/{len(res)}",
        f"{pct(lat, 50):.1f}",
        f"{pct(lat, 99):.1f}",
        f"{100 * cold / max(1, len(ok)):.1f} %",
        placed,
    ]


def main() -> int:
    p = doc_parser(__doc__ or "")
    p.add_argument("--quick", action="store_true", help="4 phases instead of 8")
    p.add_argument("--time-scale", type=float, default=0.2)
    p.add_argument("--rate", type=float, default=2.0, help="requests per fleet second")
    p.add_argument("--hot-share", type=float, default=0.75)
    p.add_argument("--phase", type=float, default=120.0, help="fleet seconds per hot model")
    args = p.parse_args()
    ts = args.time_scale
    reqs = trace(args.rate, args.hot_share, args.phase, 4 if args.quick else 8, ts)
    path = temp_dir("sollol-placement") / "fleet.yaml"
    path.write_text(yaml.safe_dump(profile(ts)))
    print(f"{len(reqs)} requests, {args.rate}/s, hot share {args.hot_share}, phase {args.phase} s")
    rows = []
    for name, on in (("without placement", False), ("with placement", True)):
        res, placed = run(path, ts, reqs, on)
        rows.append(summary(name, res, placed, ts))
        print(rows[-1], flush=True)
    head = ["run", "answered", "p50 s", "p99 s", "waited for a cold load", "pre-loads"]
    print(md_table(head, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
