"""Batch embeddings on the LIVE stack: scaling over equal hosts, exactly-once through faults,
interactive latency while a big batch runs.

Each part starts fresh stacks (what ``sollol up --sim-profile`` runs: gateway, Redis, one Celery
worker per simulated node, control worker, beat, supervisor) and submits jobs to
``POST /api/embed/batch``:

  scaling      one job of ``--docs-per-host`` × N docs through N = 1, 2, 3, 4 equal hosts; the
               steady rate (docs answered between 10 % and 90 % of the job, per second) against
               N × one host's capacity, measured in the same run by calling one node directly
               with chunks of the same size back to back. Target: ≥ 0.9 × N × one host.
  faults       ``--fault-docs`` docs (20 000) through 3 hosts; at 25 % the worker of a host that
               is embedding a chunk is SIGKILLed (the supervisor restarts it), at 55 % Redis is
               SIGKILLed and restarted on the same port (with its append-only file: a batch queue
               that must survive Redis needs persistence). Then every result is read back: each
               id exactly once, in input order, each vector equal to what a node answers for that
               text (a separate simulated node called directly; vectors depend only on model and
               text). Target: lost 0, duplicated 0, wrong 0.
  scatter      one synchronous /api/embed call of ``--scatter-inputs`` texts through the gateway
               on 2 hosts (split by scatter-gather) against the same call to one node directly.
  interactive  non-streamed chat (generate, num_predict fixed) at ``--chat-load`` of the
               fleet's chat capacity, open-loop Poisson, for ``--chat-s`` seconds without a
               batch, then the same seeded load while a batch job keeps every host embedding.
               Target: p99 with the batch ≤ 1.3 × p99 without.

    .venv/bin/python bench/embed.py --quick       # smaller jobs, < 4 min
    .venv/bin/python bench/embed.py               # ~8 min
    .venv/bin/python bench/embed.py --parts faults

Rates are wall-clock docs/s on this machine (the nodes run at ``--time-scale``); read them as
ratios, the baseline is measured in the same run.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from _live import LiveStack, call, doc_parser, md_table, pct, scaled_settings, temp_dir

from sollol.embedded_redis import EmbeddedRedis, free_port

MODEL = "nomic-embed-text"
CHAT = {"size_mb": 2000, "load_s": 2.0, "prompt_tps": 2000, "gen_tps": 100}
ACTIVE = ("loading", "queued", "running")


# --- fleet and docs ---------------------------------------------------------------------------
def profile(n: int, embed_tps: float, dim: int, out: Path) -> Path:
    """``n`` equal nodes with a chat model and an embedder, both resident."""
    embed = {"size_mb": 300, "load_s": 0.5, "embed_dim": dim, "embed_tps": embed_tps}
    nodes = [
        {
            "name": f"h{i + 1}",
            "port": free_port(),
            "num_parallel": 4,
            "models": {"llama3.2": CHAT, MODEL: embed},
            "loaded": ["llama3.2", MODEL],
        }
        for i in range(n)
    ]
    path = out / f"embed-{n}.yaml"
    path.write_text(yaml.safe_dump({"nodes": nodes}, sort_keys=False), encoding="utf-8")
    return path


def texts(n: int, tag: str = "doc") -> list[str]:
    """``n`` distinct texts of ~50 tokens (the simulator counts ~4 characters a token)."""
    return [f"{tag} {i}: " + "a passage of a document to index " * 6 for i in range(n)]


def settings(a: Any, **extra: Any) -> dict[str, Any]:
    return {
        **scaled_settings(a.time_scale),
        "autobatch_interval_s": 1.0,
        "autobatch_max_batch_size": a.chunk,
        "batch_max_docs": 1_000_000,
        **extra,
    }


# --- measuring a job --------------------------------------------------------------------------
def submit(stack: LiveStack, docs: list[str]) -> str:
    assert stack.client is not None
    lines = "\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(docs))
    r = stack.client.post(
        f"{stack.url}/api/embed/batch?model={MODEL}",
        content=lines.encode(),
        headers={"Content-Type": "application/x-ndjson"},
        timeout=120,
    )
    r.raise_for_status()
    return str(r.json()["job_id"])


def follow(stack: LiveStack, job: str, timeout_s: float, on_progress: Any = None) -> dict[str, Any]:
    """Poll the job until it ends; returns its status plus ``trace`` [(t, done)] and ``wall_s``."""
    t0, trace = time.monotonic(), []
    while True:
        try:
            status = stack.get(f"/api/batch-status/{job}")
        except (httpx.HTTPError, ValueError):
            status = {"state": "running", "done": trace[-1][1] if trace else 0}
        now = time.monotonic() - t0
        trace.append((now, int(status.get("done", 0))))
        if on_progress is not None:
            on_progress(status)
        if status.get("state") not in ACTIVE or now > timeout_s:
            return {**status, "trace": trace, "wall_s": now}
        time.sleep(0.1)


def steady_rate(trace: list[tuple[float, int]], total: int) -> float:
    """docs/s between the first sample past 10 % and the first past 90 % of ``total``."""
    lo = next((t, d) for t, d in trace if d >= 0.1 * total)
    hi = next((t, d) for t, d in trace if d >= 0.9 * total)
    return (hi[1] - lo[1]) / max(hi[0] - lo[0], 1e-9)


def direct_rate(url: str, docs: list[str], chunk: int) -> float:
    """One node's capacity: chunks of ``chunk`` docs sent back to back to its /api/embed."""
    with httpx.Client(timeout=120) as client:
        client.post(f"{url}/api/embed", json={"model": MODEL, "input": docs[:1]})  # warm
        t0 = time.monotonic()
        for i in range(0, len(docs), chunk):
            r = client.post(f"{url}/api/embed", json={"model": MODEL, "input": docs[i : i + chunk]})
            r.raise_for_status()
        return len(docs) / (time.monotonic() - t0)


def node_url(stack: LiveStack, name: str) -> str:
    assert stack.stack is not None
    return next(h.url for h in stack.stack.hosts if h.name == name)


# --- parts ------------------------------------------------------------------------------------
def part_scaling(a: Any) -> list[dict[str, Any]]:
    out_dir, rows = temp_dir("sollol-bench-embed-"), []
    one_host = 0.0
    for n in a.hosts:
        docs = texts(a.docs_per_host * n, f"s{n}")
        path = profile(n, a.embed_tps, a.dim, out_dir)
        with LiveStack(path, "performance", a.time_scale, settings(a)) as stack:
            if not one_host:
                one_host = direct_rate(node_url(stack, "h1"), docs[: a.docs_per_host], a.chunk)
            follow(stack, submit(stack, docs[:50]), 60)  # learn the hosts' rates first
            st = follow(stack, submit(stack, docs), 600)
        rate = steady_rate(st["trace"], len(docs))
        rows.append(
            {
                "hosts": n,
                "docs": len(docs),
                "state": st["state"],
                "wall_s": st["wall_s"],
                "end_to_end": len(docs) / st["wall_s"],
                "steady": rate,
                "ideal": n * one_host,
                "ratio": rate / (n * one_host),
            }
        )
        print(
            f"  {n} hosts: {rate:.0f} docs/s steady ({rows[-1]['ratio']:.2f} of ideal)", flush=True
        )
    return rows


def part_faults(a: Any) -> dict[str, Any]:
    out_dir = temp_dir("sollol-bench-embed-")
    docs = texts(a.fault_docs, "f")
    redis = EmbeddedRedis(appendonly=True).start()
    events: list[str] = []
    try:
        path = profile(3, a.embed_tps, a.dim, out_dir)
        with LiveStack(
            path, "performance", a.time_scale, settings(a, redis_url=redis.url)
        ) as stack:
            job, t0 = submit(stack, docs), time.monotonic()
            faults = {"worker": 0.25, "redis": 0.55}

            def inject(status: dict[str, Any]) -> None:
                frac = int(status.get("done", 0)) / len(docs)
                if "worker" in faults and frac >= faults["worker"]:
                    faults.pop("worker")
                    victim = _busy_worker(stack)
                    stack.kill_child(f"worker-{victim}")
                    events.append(
                        f"{time.monotonic() - t0:.1f} s: SIGKILL worker-{victim} at {frac:.0%}"
                    )
                if "redis" in faults and frac >= faults["redis"]:
                    faults.pop("redis")
                    redis.kill()
                    events.append(f"{time.monotonic() - t0:.1f} s: Redis SIGKILL at {frac:.0%}")
                    time.sleep(a.redis_gap)
                    redis.start()
                    events.append(f"{time.monotonic() - t0:.1f} s: Redis back (AOF reloaded)")

            st = follow(stack, job, a.deadline, inject)
            lines = _all_results(stack, job, len(docs))
    finally:
        redis.close()
    return {"status": st, "events": events, **_check(docs, lines, a)}


def _busy_worker(stack: LiveStack) -> str:
    """A host with a chunk in flight right now (from the rounds in /api/batch-status)."""
    rounds = stack.get("/api/batch-status")["autobatch"]["rounds_in_flight"]
    hosts = [c["host"] for r in rounds for c in r["chunks"]]
    return hosts[0] if hosts else "h1"


def _all_results(stack: LiveStack, job: str, total: int) -> list[dict[str, Any]]:
    assert stack.client is not None
    out: list[dict[str, Any]] = []
    for offset in range(0, total, 5000):
        r = stack.client.get(
            f"{stack.url}/api/embed/batch/{job}/results",
            params={"offset": offset, "limit": 5000},
            timeout=120,
        )
        out += [json.loads(line) for line in r.text.splitlines()]
    return out


def _check(docs: list[str], lines: list[dict[str, Any]], a: Any) -> dict[str, Any]:
    """Every id once, in order, and each vector equal to a direct call to a (separate) node."""
    from sollol.sim import SimFleet, parse_profile

    ids = [x["id"] for x in lines]
    want = [f"d{i}" for i in range(len(docs))]
    seen: dict[str, int] = {}
    for i in ids:
        seen[i] = seen.get(i, 0) + 1
    fast = {"size_mb": 300, "load_s": 0.0, "embed_dim": a.dim, "embed_tps": 1e9}
    node = {"name": "ref", "port": free_port(), "models": {MODEL: fast}, "loaded": [MODEL]}
    ref = parse_profile({"nodes": [node]})
    wrong = 0
    with SimFleet(ref) as fleet, httpx.Client(timeout=120) as client:
        url = fleet.urls["ref"]
        by_id = {x["id"]: x.get("embedding") for x in lines}
        for lo in range(0, len(docs), 1000):
            batch = docs[lo : lo + 1000]
            got = client.post(f"{url}/api/embed", json={"model": MODEL, "input": batch}).json()
            for k, vec in enumerate(got["embeddings"]):
                wrong += by_id.get(f"d{lo + k}") not in (None, vec)
    return {
        "answered": len(seen),
        "lost": sum(1 for i in want if i not in seen),
        "duplicated": sum(1 for n in seen.values() if n > 1),
        "in_order": ids == want,
        "wrong": wrong,
        "errors": sum(1 for x in lines if "error" in x),
    }


def part_scatter(a: Any) -> dict[str, Any]:
    """One synchronous /api/embed call of ``--scatter-inputs`` texts: through the gateway on 2
    hosts (split, scatter_threshold 64) against the same call sent to one node directly."""
    path = profile(2, a.embed_tps, a.dim, temp_dir("sollol-bench-embed-"))
    docs = texts(a.scatter_inputs, "sc")
    body = {"model": MODEL, "input": docs}
    with LiveStack(path, "performance", a.time_scale, settings(a)) as stack:
        assert stack.client is not None
        follow(stack, submit(stack, docs[:200]), 60)  # learn both hosts' rates
        direct, gateway = [], []
        for _ in range(3):
            t0 = time.monotonic()
            stack.client.post(f"{node_url(stack, 'h1')}/api/embed", json=body, timeout=120)
            direct.append(time.monotonic() - t0)
            t0 = time.monotonic()
            r = stack.client.post(f"{stack.url}/api/embed", json=body, timeout=120)
            gateway.append(time.monotonic() - t0)
        parts = r.json()["_sollol_routing"].get("scatter", [])
    return {"direct": min(direct), "gateway": min(gateway), "parts": parts}


def part_interactive(a: Any) -> dict[str, Any]:
    out_dir = temp_dir("sollol-bench-embed-")
    path = profile(2, a.embed_tps, a.dim, out_dir)
    # chat capacity: 2 hosts × 4 slots / (num_predict / gen_tps) requests per fleet second
    service_s = a.tokens / CHAT["gen_tps"] + 0.05
    rate = a.chat_load * 2 * 4 / service_s / a.time_scale
    with LiveStack(path, "performance", a.time_scale, settings(a)) as stack:
        _chat(stack, a, rate, 3.0, seed=0)  # warm connections and learned rates
        alone = _chat(stack, a, rate, a.chat_s, seed=1)
        # enough docs to keep both hosts embedding for twice the chat phase (~50 tokens a doc)
        n_docs = int(2 * 2 * a.chat_s * a.embed_tps / 50 / a.time_scale)
        job = submit(stack, texts(n_docs, "i"))
        follow_until = time.monotonic() + 30
        while (
            stack.get(f"/api/batch-status/{job}")["done"] == 0 and time.monotonic() < follow_until
        ):
            time.sleep(0.1)
        during = _chat(stack, a, rate, a.chat_s, seed=1)
        batch = stack.get(f"/api/batch-status/{job}")
    return {
        "rate": rate,
        "alone": alone,
        "during": during,
        "batch_done": batch["done"],
        "batch_state": batch["state"],
    }


def _chat(stack: LiveStack, a: Any, rate: float, seconds: float, seed: int) -> dict[str, float]:
    """Open-loop Poisson generate requests for ``seconds``; latency percentiles in seconds."""
    assert stack.client is not None
    rng, futures = random.Random(seed), []
    body = {"model": "llama3.2", "prompt": "hello there", "options": {"num_predict": a.tokens}}
    with ThreadPoolExecutor(64) as pool:
        t_end, t_next = time.monotonic() + seconds, time.monotonic()
        while t_next < t_end:
            time.sleep(max(0.0, t_next - time.monotonic()))
            futures.append(
                pool.submit(call, stack.client, stack.url, "generate", body, 5, False, 60)
            )
            t_next += rng.expovariate(rate)
        results = [f.result() for f in futures]
    ok = [r.latency for r in results if r.kind == "answered"]
    return {"n": len(results), "ok": len(ok), "p50": pct(ok, 50), "p99": pct(ok, 99)}


# --- report -----------------------------------------------------------------------------------
def report(a: Any, out: dict[str, Any]) -> None:
    if "scaling" in out:
        rows = out["scaling"]
        print("\n### Scaling over equal hosts\n")
        print(
            md_table(
                [
                    "hosts",
                    "docs",
                    "state",
                    "wall s",
                    "end-to-end docs/s",
                    "steady docs/s",
                    "N × one host",
                    "steady / ideal",
                ],
                [
                    [
                        r["hosts"],
                        r["docs"],
                        r["state"],
                        f"{r['wall_s']:.1f}",
                        f"{r['end_to_end']:.0f}",
                        f"{r['steady']:.0f}",
                        f"{r['ideal']:.0f}",
                        f"{r['ratio']:.2f}",
                    ]
                    for r in rows
                ],
            )
        )
    if "faults" in out:
        f = out["faults"]
        print(f"\n### {a.fault_docs} docs through a worker SIGKILL and a Redis restart\n")
        for e in f["events"]:
            print(f"- {e}")
        print(
            f"\nstate {f['status']['state']}, {f['status']['wall_s']:.1f} s; answered {f['answered']}, "
            f"lost {f['lost']}, duplicated {f['duplicated']}, in input order {f['in_order']}, "
            f"vectors different from a direct node call {f['wrong']}, per-doc errors {f['errors']}"
        )
    if "scatter" in out:
        sc = out["scatter"]
        split = ", ".join(f"{p['host']} {p['inputs']}" for p in sc["parts"])
        print(f"\n### One /api/embed call of {a.scatter_inputs} inputs (best of 3)\n")
        print(
            f"one node directly {sc['direct']:.2f} s; through the gateway, split over 2 hosts "
            f"({split}) {sc['gateway']:.2f} s: {sc['direct'] / sc['gateway']:.2f}x faster"
        )
    if "interactive" in out:
        i = out["interactive"]
        ratio = i["during"]["p99"] / i["alone"]["p99"]
        print(f"\n### Interactive chat during a batch ({i['rate']:.1f} req/s)\n")
        print(
            md_table(
                ["chat load", "requests", "answered", "p50 s", "p99 s"],
                [
                    [name, r["n"], r["ok"], f"{r['p50']:.3f}", f"{r['p99']:.3f}"]
                    for name, r in (("alone", i["alone"]), ("during batch", i["during"]))
                ],
            )
        )
        print(
            f"\np99 during / alone = {ratio:.2f} (target ≤ 1.3); batch docs done meanwhile: {i['batch_done']}"
        )


def parse(argv: Sequence[str] | None) -> Any:
    p = doc_parser(__doc__ or "")
    p.add_argument("--quick", action="store_true", help="smaller jobs (< 4 min)")
    p.add_argument("--parts", default="scaling,faults,scatter,interactive")
    p.add_argument("--scatter-inputs", type=int, default=1000, help="inputs of the scatter call")
    p.add_argument("--hosts", default="1,2,3,4", help="host counts of the scaling part")
    p.add_argument(
        "--docs-per-host", type=int, default=0, help="scaling job size per host (1500; quick 500)"
    )
    p.add_argument("--fault-docs", type=int, default=20_000)
    p.add_argument("--chunk", type=int, default=100, help="autobatch_max_batch_size (100)")
    p.add_argument("--embed-tps", type=float, default=10_000.0, help="embedder tokens/s per node")
    p.add_argument("--dim", type=int, default=64, help="embedding dimensions (64)")
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--redis-gap", type=float, default=2.0, help="Redis is away this long, s")
    p.add_argument("--deadline", type=float, default=600.0, help="a job not done by then failed, s")
    p.add_argument("--chat-load", type=float, default=0.5, help="fraction of chat capacity (0.5)")
    p.add_argument(
        "--chat-s", type=float, default=0.0, help="seconds per chat phase (40; quick 15)"
    )
    p.add_argument("--tokens", type=int, default=32, help="num_predict of chat requests")
    a = p.parse_args(argv)
    a.hosts = [int(x) for x in a.hosts.split(",")]
    a.parts = a.parts.split(",")
    a.docs_per_host = a.docs_per_host or (500 if a.quick else 1500)
    a.chat_s = a.chat_s or (15.0 if a.quick else 40.0)
    if a.quick:
        a.fault_docs = min(a.fault_docs, 20_000)
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = parse(argv)
    out: dict[str, Any] = {}
    print(f"bench/embed.py {' '.join(sys.argv[1:])}", flush=True)
    if "scaling" in a.parts:
        out["scaling"] = part_scaling(a)
    if "faults" in a.parts:
        out["faults"] = part_faults(a)
    if "scatter" in a.parts:
        out["scatter"] = part_scatter(a)
    if "interactive" in a.parts:
        out["interactive"] = part_interactive(a)
    report(a, out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
