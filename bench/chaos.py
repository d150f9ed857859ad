"""Chaos on the LIVE stack: load keeps arriving while workers, nodes and Redis fail on a schedule.

A fresh stack (exactly what ``sollol up --sim-profile`` runs, with its supervisor restarting dead
workers) serves a seeded open-loop Poisson mix of streamed and non-streamed chat, generate and
embed requests while a fault schedule runs, round after round:

  1. SIGKILL of a Celery worker that is executing a request (the supervisor restarts it);
  2. a node crashes (simulator fault "down": its port closes, open connections drop), then recovers;
  3. a node hangs (fault "hang": it accepts requests and never answers), then recovers;
  4. Redis is killed and restarted empty on the same port.

    .venv/bin/python bench/chaos.py --quick      # one round, < 3 min
    .venv/bin/python bench/chaos.py              # three rounds, ~6 min
    .venv/bin/python bench/chaos.py --profile deploy/sim/identical.yaml --time-scale 0.5

Every request the client sent is classified:

- answered: HTTP 200 and exactly one final ``done`` object (streamed or not) whose text is
  exactly what the answering node generates for this prompt (the simulator's text is a pure
  function of node seed, model, prompt and num_predict, so a truncated, spliced or repeated
  answer is caught);
- failed with a clear error: an HTTP error status with an ``{"error": ...}`` body, or a stream
  that ends with an ``{"error": ...}`` line;
- lost: no answer within ``--deadline`` (a hang), a connection dropped without an error, or a
  body that is neither of the above;
- duplicated: the client received two final objects, more chunks than tokens generated, or text
  longer than the node generated (an answered request can also be duplicated; counted apart);
- wrong text: answered, but the text differs from what the node generates (not longer);
- continued: answered although an attempt died after tokens reached the client — the gateway
  continued the answer on another host (``_sollol_routing.continued_from``). Its expected text
  is spliced the way the simulator continues a trailing assistant message: the first host's
  tokens up to the cut, then what the next host says after that start, and so on.

Separately, the simulator's ledger (``X-SOLLOL-Request-Id`` = ``_sollol_routing.request_id``)
says how many times each request ran to completion on the nodes: more than once is wasted
duplicate work even when the client got one answer. Targets (docs/targets.md): lost 0, duplicated 0,
and no streamed request failing with an error (answers cut mid-stream are continued).
Times in the output are wall-clock seconds since the first arrival (the nodes run every delay
``time_scale`` times faster than the profile says). Every number printed is measured in the run.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from _des_workload import priority_of  # noqa: E402
from _live import (  # noqa: E402
    ROOT,
    CallResult,
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
from sollol.sim import physics  # noqa: E402
from sollol.sim.answer import AnswerSpec, plan_answer  # noqa: E402
from sollol.sim.profile import FleetProfile, load_profile  # noqa: E402
from sollol.sim.textgen import plan_tokens  # noqa: E402

FAULTY = "deploy/sim/faulty.yaml"
CHAT_MODEL, EMBED_MODEL = "llama3.2", "nomic-embed-text"
OUTCOMES = ("answered", "error", "lost")


# --- workload ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """One request; ``at`` is its arrival in wall seconds after the first arrival."""

    index: int
    at: float
    endpoint: str  # chat | generate | embed
    body: dict[str, Any]
    priority: int
    stream: bool
    tokens: int  # num_predict (0 for embed)


def build_requests(
    seed: int, rate: float, duration_s: float, embed: bool, median_tokens: float, max_tokens: int
) -> list[Request]:
    """Poisson arrivals at ``rate``/s over ``duration_s``: 45 % chat, 45 % generate (10 % embed
    when the fleet has an embedder, else chat/generate), half of chat/generate streamed,
    priorities as in bench/policy.py, num_predict log-normal (σ 1) around ``median_tokens``."""
    rng = random.Random(seed)
    out: list[Request] = []
    t = rng.expovariate(rate)
    while t < duration_s:
        i = len(out)
        x = rng.random()
        prio = priority_of(rng)
        prompt = f"chaos request {seed}-{i}: " + " ".join(
            rng.choice(("fleet", "queue", "token", "redis", "worker", "node")) for _ in range(12)
        )
        if embed and x < 0.10:
            inputs = [f"{prompt} part {k}" for k in range(rng.randint(1, 4))]
            out.append(
                Request(i, t, "embed", {"model": EMBED_MODEL, "input": inputs}, prio, False, 0)
            )
        else:
            tokens = physics.sample_output_tokens(rng, median=median_tokens, cap=max_tokens)
            options = {"num_predict": tokens}
            stream = rng.random() < 0.5
            if x < 0.55:
                body = {"model": CHAT_MODEL, "prompt": prompt, "options": options}
                out.append(Request(i, t, "generate", body, prio, stream, tokens))
            else:
                body = {
                    "model": CHAT_MODEL,
                    "messages": [{"role": "user", "content": prompt}],
                    "options": options,
                }
                out.append(Request(i, t, "chat", body, prio, stream, tokens))
        t += rng.expovariate(rate)
    return out


def expected_text(profile: FleetProfile, host: str, req: Request) -> str | None:
    """The exact text node ``host`` generates for ``req`` (None for embeddings or unknown host)."""
    node = next((n for n in profile.nodes if n.name == host), None)
    if node is None or req.endpoint == "embed":
        return None
    chat = req.endpoint == "chat"
    prompt = physics.chat_prompt_text(req.body["messages"]) if chat else req.body["prompt"]
    return plan_tokens(node.seed, normalize_model(CHAT_MODEL), prompt, None, req.tokens).text


def continued_text(
    profile: FleetProfile, req: Request, died: Sequence[dict[str, Any]], host: str
) -> str | None:
    """The exact text of an answer continued after the attempts in ``died`` (each with the
    ``host`` it ran on and the ``tokens`` the client had when it died) and finished on ``host``:
    the first host's tokens, then each next host's continuation of the text so far (generate is
    continued as the chat ``[user: prompt]`` its template renders)."""
    if req.endpoint == "embed" or not any(n.name == died[0]["host"] for n in profile.nodes):
        return None
    ends = [int(d["tokens"]) for d in died]
    text = _first_tokens(profile, str(died[0]["host"]), req, ends[0])
    messages = req.body.get("messages") or [{"role": "user", "content": req.body["prompt"]}]
    prompt = physics.chat_prompt_text(messages)
    hosts = [str(d["host"]) for d in died[1:]] + [host]
    for n, (h, start) in enumerate(zip(hosts, ends, strict=True)):
        node = next((x for x in profile.nodes if x.name == h), None)
        if node is None:
            return None
        end = ends[n + 1] if n + 1 < len(ends) else req.tokens
        model = normalize_model(CHAT_MODEL)
        text += plan_answer(
            AnswerSpec(node.seed, model, prompt, None, end - start, prefill=text)
        ).body_text
    return text


def _first_tokens(profile: FleetProfile, host: str, req: Request, tokens: int) -> str:
    node = next(n for n in profile.nodes if n.name == host)
    chat = req.endpoint == "chat"
    prompt = physics.chat_prompt_text(req.body["messages"]) if chat else req.body["prompt"]
    return plan_tokens(node.seed, normalize_model(CHAT_MODEL), prompt, None, tokens).text


# --- fault schedule ---------------------------------------------------------------------------
@dataclass
class Timeline:
    """Fault events with their wall time since the first arrival, printed in order."""

    t0: float = 0.0
    events: list[tuple[float, str, str]] = field(default_factory=list)  # (t, what, detail)
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # (fault, start, end)
    killed: list[str] = field(default_factory=list)  # request ids running on killed workers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def write(self, text: str) -> None:
        """File-like: the launcher's supervisor reports restarts here, timestamped as events."""
        for line in text.strip().splitlines():
            if "exited" in line:
                name, _, rest = line.partition(" exited ")
                self.log("supervisor", f"{name} exited {rest.strip()}")

    def flush(self) -> None:
        pass

    def log(self, what: str, detail: str = "") -> float:
        t = self.now()
        with self.lock:
            self.events.append((t, what, detail))
        print(f"  t={t:6.1f} s  {what}  {detail}", file=sys.stderr, flush=True)
        return t


def kill_busy_worker(
    stack: LiveStack, tl: Timeline, prefer: Sequence[str], nodes: Sequence[str]
) -> None:
    """SIGKILL the worker of a host that is executing a request right now (its lease in Redis;
    waits up to 10 s for one), then wait for the supervisor to restart it. The ids it was
    running go to ``tl.killed``."""
    deadline = time.monotonic() + 10.0
    victim, ids = "", []
    while time.monotonic() < deadline and not victim:
        busy = {h: ids for h in nodes if (ids := stack.running(h))}
        victim = next((h for h in prefer if h in busy), next(iter(busy), ""))
        ids = busy.get(victim, [])
        if not victim:
            time.sleep(0.02)
    if not victim:
        tl.log("worker kill skipped", "no host was running a request for 10 s")
        return
    name = f"worker-{victim}"
    before = stack.child(name).restarts
    start = tl.now()
    pid = stack.kill_child(name)
    tl.killed += ids
    tl.log(
        "SIGKILL worker",
        f"{name} (pid {pid}) while it ran request(s) " + ", ".join(i[:12] for i in ids),
    )
    while stack.child(name).restarts == before and time.monotonic() < deadline + 30:
        time.sleep(0.1)
    tl.log("worker back", f"{name} restarted by the supervisor")
    tl.windows.append(("worker SIGKILL", start, tl.now()))


def node_fault(stack: LiveStack, tl: Timeline, node: str, mode: str, hold_s: float) -> None:
    """Force ``mode`` on ``node`` for ``hold_s`` seconds, then recover it."""
    start = tl.now()
    stack.fault(node, mode)
    tl.log(f"node {mode}", f"{node} for {hold_s:g} s")
    time.sleep(hold_s)
    stack.recover(node)
    tl.log("node recovered", node)
    tl.windows.append((f"node {mode}", start, tl.now()))


def redis_restart(stack: LiveStack, tl: Timeline, gap_s: float) -> None:
    """Kill Redis (SIGKILL, no persistence: it comes back empty), start it again after ``gap_s``."""
    assert stack.stack is not None and stack.stack.redis is not None
    server = stack.stack.redis
    start = tl.now()
    server.kill()
    tl.log("Redis killed", f"port {server.port}")
    time.sleep(gap_s)
    server.start()
    tl.log("Redis started", "empty, same port")
    tl.windows.append(("Redis restart", start, tl.now()))


def schedule(
    stack: LiveStack,
    tl: Timeline,
    nodes: Sequence[str],
    rounds: int,
    first_s: float,
    gap_s: float,
    hold_s: float,
    redis_gap_s: float,
    finished: threading.Event,
    release: threading.Event,
) -> Callable[[], None]:
    """The fault schedule as a function to run in a thread: ``rounds`` × (worker kill, node down,
    node hang, Redis restart), one every ``gap_s`` seconds, starting at ``first_s``; each round
    picks other nodes. Sets ``finished`` after the last fault, then waits for ``release``.

    Why the thread must outlive the stack: EmbeddedRedis.start() sets PR_SET_PDEATHSIG in the
    child, and Linux delivers that signal when the *thread* that forked the child exits, not the
    process. A Redis restarted from a thread that then ends receives SIGTERM at once (found by
    this benchmark; see bench/RESULTS.md)."""

    def at(t: float) -> None:
        time.sleep(max(0.0, t - tl.now()))

    def run() -> None:
        t = first_s
        for r in range(rounds):
            a, b = nodes[r % len(nodes)], nodes[(r + 1) % len(nodes)]
            at(t)
            kill_busy_worker(stack, tl, [a, b], nodes)
            t += gap_s
            at(t)
            node_fault(stack, tl, a, "down", hold_s)
            t += gap_s
            at(t)
            node_fault(stack, tl, b, "hang", hold_s)
            t += gap_s
            at(t)
            redis_restart(stack, tl, redis_gap_s)
            t += gap_s
        finished.set()
        release.wait()

    return run


def schedule_length(rounds: int, first_s: float, gap_s: float) -> float:
    """Seconds from the first arrival to the last fault's start."""
    return first_s + (4 * rounds - 1) * gap_s


# --- classification ---------------------------------------------------------------------------
@dataclass
class Verdict:
    """One request's classification."""

    outcome: str  # answered | error | lost
    duplicated: bool = False  # the client saw two final objects or more text than generated
    wrong_text: bool = False
    continued: bool = False  # an attempt died mid-stream and another host finished the answer
    request_id: str = ""
    host: str = ""


def classify(res: CallResult, req: Request, profile: FleetProfile) -> Verdict:
    """What the client got for ``req`` (see the module docstring)."""
    routing = res.final.get("_sollol_routing") or {}
    v = Verdict(
        res.kind if res.kind in OUTCOMES else "lost",
        request_id=str(routing.get("request_id") or res.request_id),
        host=str(routing.get("host") or res.host),
    )
    eval_count = int(res.final.get("eval_count", 0) or 0)
    if res.finals > 1 or (req.stream and eval_count and res.chunks > eval_count):
        v.duplicated = True
    if v.outcome != "answered":
        return v
    if req.endpoint == "embed":
        v.wrong_text = len(res.final.get("embeddings") or []) != len(req.body["input"])
        return v
    died = routing.get("continued_from") or []
    v.continued = bool(died)
    want = (
        continued_text(profile, req, died, v.host) if died else expected_text(profile, v.host, req)
    )
    if want is not None and res.text != want:
        if len(res.text) > len(want):
            v.duplicated = True
        else:
            v.wrong_text = True
    return v


# --- run --------------------------------------------------------------------------------------
@dataclass
class Outcome:
    """Everything a chaos run measured."""

    requests: list[Request]
    results: list[CallResult]
    verdicts: list[Verdict]
    timeline: Timeline
    ledger: dict[str, Any]
    restarts: dict[str, int]
    wall_s: float


def run(a: argparse.Namespace) -> Outcome:
    """Start the stack, drive the load while the schedule runs, collect and classify."""
    ts = a.time_scale
    path = profile_copy(ROOT / a.profile, ts, temp_dir("sollol-chaos-"))
    profile = load_profile(path)
    nodes = [n.name for n in profile.nodes]
    has_embed = sum(1 for n in profile.nodes if normalize_model(EMBED_MODEL) in n.models) >= 2
    length = schedule_length(a.rounds, a.first, a.gap)
    duration = length + a.gap  # keep load on through the last fault's recovery
    reqs = build_requests(a.seed, a.rate, duration, has_embed, a.median_tokens, a.max_tokens)
    settings = {
        **scaled_settings(ts),
        "first_chunk_timeout_s": a.first_chunk_timeout,
        "circuit_open_s": 3.0,
    }
    results: list[CallResult | None] = [None] * len(reqs)
    tl = Timeline()
    started = time.monotonic()
    with LiveStack(path, a.strategy, ts, settings, keep_logs=a.keep_logs, out=tl) as stack:
        assert stack.client is not None
        print(
            f"stack up in {time.monotonic() - started:.1f} s; {len(reqs)} requests over "
            f"{duration:.0f} s, faults:",
            file=sys.stderr,
            flush=True,
        )
        tl.t0 = time.monotonic() + 0.5
        finished, release = threading.Event(), threading.Event()
        chaos = threading.Thread(
            target=schedule(
                stack, tl, nodes, a.rounds, a.first, a.gap, a.hold, a.redis_gap, finished, release
            ),
            daemon=True,
        )
        chaos.start()
        threads = []
        for req in reqs:
            time.sleep(max(0.0, tl.t0 + req.at - time.monotonic()))
            th = threading.Thread(target=_send, args=(stack, req, results, a.deadline), daemon=True)
            th.start()
            threads.append(th)
        finished.wait()
        for th in threads:
            th.join(a.deadline + 30)
        time.sleep(2.0)  # abandoned attempts on recovered nodes may still complete: count them
        ledger = stack.ledger()
        restarts = stack.restarts()
    release.set()
    final = [
        r if r is not None else CallResult(sent=math.nan, error="client thread still open")
        for r in results
    ]
    verdicts = [classify(r, q, profile) for r, q in zip(final, reqs, strict=True)]
    return Outcome(reqs, final, verdicts, tl, ledger, restarts, time.monotonic() - started)


def _send(
    stack: LiveStack, req: Request, results: list[CallResult | None], deadline_s: float
) -> None:
    assert stack.client is not None
    results[req.index] = call(
        stack.client, stack.url, req.endpoint, req.body, req.priority, req.stream, deadline_s
    )


# --- report -----------------------------------------------------------------------------------
def _row(label: str, idx: Sequence[int], out: Outcome) -> list[object]:
    v = [out.verdicts[i] for i in idx]
    return [
        label,
        len(v),
        sum(x.outcome == "answered" for x in v),
        sum(x.outcome == "error" for x in v),
        sum(x.outcome == "lost" for x in v),
        sum(x.duplicated for x in v),
        sum(x.wrong_text for x in v),
        sum(x.continued for x in v),
    ]


HEADERS = [
    "requests",
    "sent",
    "answered",
    "failed with clear error",
    "lost",
    "duplicated",
    "wrong text",
    "continued mid-stream",
]


def summary_table(out: Outcome) -> str:
    every = range(len(out.requests))
    rows = [_row("all", every, out)]
    rows.append(_row("streamed", [i for i in every if out.requests[i].stream], out))
    rows.append(_row("not streamed", [i for i in every if not out.requests[i].stream], out))
    return md_table(HEADERS, rows)


def _in_flight(out: Outcome, i: int, start: float, end: float) -> bool:
    """Request ``i`` was open at some moment of [start, end] (wall s since the first arrival)."""
    sent = out.requests[i].at
    res = out.results[i]
    done = (res.done - out.timeline.t0) if not math.isnan(res.done) else math.inf
    return sent <= end and done >= start


def window_table(out: Outcome) -> str:
    """Outcomes of the requests open during each fault (from its start to recovery)."""
    rows = []
    for name, start, end in sorted(out.timeline.windows, key=lambda w: w[1]):
        idx = [i for i in range(len(out.requests)) if _in_flight(out, i, start, end)]
        rows.append(_row(f"{name} @ {start:.1f}–{end:.1f} s", idx, out))
    return md_table(["requests open during", *HEADERS[1:]], rows)


def ledger_lines(out: Outcome) -> list[str]:
    """Wasted duplicate work on the nodes, from the simulator's request ledger."""
    entries = out.ledger.get("requests", {})
    answered = {v.request_id for v in out.verdicts if v.request_id and v.outcome == "answered"}
    dup = list(out.ledger.get("duplicates", []))
    retried = sum(1 for e in entries.values() if e["received"] > 1)
    never = sum(1 for rid in answered if entries.get(rid, {}).get("completed", 0) == 0)
    return [
        f"- request ids seen by the nodes: {len(entries)}; received more than once (retries, "
        f"redeliveries, fail-overs): {retried}",
        f"- completed more than once on the nodes (wasted duplicate work): {len(dup)}"
        + (f" — {', '.join(dup[:5])}" if dup else ""),
        f"- answered requests whose id no node completed: {never}",
    ]


def duplicate_table(out: Outcome) -> str:
    """The requests that ran to completion more than once on the nodes, with what the client got."""
    by_id = {v.request_id: i for i, v in enumerate(out.verdicts) if v.request_id}
    rows = []
    for rid in out.ledger.get("duplicates", []):
        entry = out.ledger["requests"][rid]
        nodes = ", ".join(
            f"{n} {c['received']}/{c['completed']}" for n, c in entry["nodes"].items()
        )
        i = by_id.get(rid)
        if i is None:
            rows.append([rid[:12], "–", "–", nodes, "(id not seen by the client: an HTTP error)"])
            continue
        req, v = out.requests[i], out.verdicts[i]
        kind = f"{req.endpoint}{' streamed' if req.stream else ''}"
        rows.append([rid[:12], f"{req.at:.1f}", kind, nodes, v.outcome])
    return md_table(
        ["request id", "sent at s", "request", "node received/completed", "client got"],
        rows,
        "lrlll",
    )


def killed_table(out: Outcome) -> str:
    """What became of the requests that were executing on a worker when it was SIGKILLed."""
    by_id = {v.request_id: i for i, v in enumerate(out.verdicts) if v.request_id}
    rows = []
    for rid in out.timeline.killed:
        entry = out.ledger.get("requests", {}).get(rid, {})
        nodes = (
            ", ".join(
                f"{n} {c['received']}/{c['completed']}" for n, c in entry.get("nodes", {}).items()
            )
            or "–"
        )
        i = by_id.get(rid)
        if i is None:
            rows.append([rid[:12], "–", "–", nodes, "(id not seen by the client: an HTTP error)"])
            continue
        req, v = out.requests[i], out.verdicts[i]
        got = v.outcome + (f": {out.results[i].error[:60]}" if out.results[i].error else "")
        rows.append(
            [
                rid[:12],
                f"{req.at:.1f}",
                f"{req.endpoint}{' streamed' if req.stream else ''}",
                nodes,
                got,
            ]
        )
    return md_table(
        ["request id", "sent at s", "request", "node received/completed", "client got"],
        rows,
        "lrlll",
    )


def errors_table(out: Outcome) -> str:
    c = Counter(
        (v.outcome, (r.error or "")[:90])
        for v, r in zip(out.verdicts, out.results, strict=True)
        if v.outcome != "answered"
    )
    rows = [[k, n, m or "–"] for (k, m), n in c.most_common(12)]
    return md_table(["outcome", "count", "message (first 90 characters)"], rows, "lrl")


def latency_line(out: Outcome) -> str:
    lat = [
        r.latency for r, v in zip(out.results, out.verdicts, strict=True) if v.outcome == "answered"
    ]
    return (
        f"answered latency, wall s: p50 {pct(lat, 50):.2f}, p99 {pct(lat, 99):.2f}, "
        f"max {max(lat, default=math.nan):.2f}"
    )


def report(a: argparse.Namespace, out: Outcome) -> bool:
    """Print the tables; True when the targets (lost 0, duplicated 0) are met."""
    print("### fault timeline (wall s since the first arrival)\n")
    print(
        md_table(
            ["t s", "event", "detail"],
            [[f"{t:.1f}", w, d] for t, w, d in out.timeline.events],
            "rll",
        )
        + "\n"
    )
    print("### outcome of every request sent\n")
    print(summary_table(out) + "\n")
    print("### requests open during each fault\n")
    print(window_table(out) + "\n")
    print("### work on the nodes (simulator ledger)\n")
    print("\n".join(ledger_lines(out)) + "\n")
    if out.ledger.get("duplicates"):
        print(duplicate_table(out) + "\n")
    if out.timeline.killed:
        print("### requests running on a worker when it was killed\n")
        print(killed_table(out) + "\n")
    print("### errors and losses\n")
    print(errors_table(out) + "\n")
    restarts = ", ".join(f"{k} {v}" for k, v in out.restarts.items()) or "none"
    print(f"{latency_line(out)}; supervisor restarts: {restarts}; run {out.wall_s:.0f} s wall\n")
    lost = sum(v.outcome == "lost" for v in out.verdicts)
    dup = sum(v.duplicated for v in out.verdicts)
    wasted = len(out.ledger.get("duplicates", []))
    streamed = [v for v, r in zip(out.verdicts, out.requests, strict=True) if r.stream]
    cut = sum(v.outcome == "error" for v in streamed)
    continued = sum(v.continued for v in out.verdicts)
    print("### targets\n")
    print(f"- lost {lost} (target 0): {'met' if lost == 0 else 'MISSED'}")
    print(f"- duplicated answers {dup} (target 0): {'met' if dup == 0 else 'MISSED'}")
    print(f"- streamed requests ending with an error {cut} (target 0): {_met(cut == 0)}")
    print(f"- answers continued on another host mid-stream {continued} (not a target)")
    print(f"- duplicate executions on nodes {wasted} (not a target; wasted work)")
    return lost == 0 and dup == 0 and cut == 0


def _met(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = doc_parser(__doc__)
    p.add_argument("--profile", default=FAULTY, help=f"fleet profile ({FAULTY})")
    p.add_argument("--strategy", default="performance")
    p.add_argument("--time-scale", type=float, default=0.2, help="simulated delays × this (0.2)")
    p.add_argument("--rate", type=float, default=4.0, help="requests/s, wall clock (4)")
    p.add_argument("--rounds", type=int, default=3, help="fault rounds (3; --quick: 1)")
    p.add_argument("--first", type=float, default=10.0, help="first fault at this wall s (10)")
    p.add_argument("--gap", type=float, default=25.0, help="wall s between faults (25)")
    p.add_argument("--hold", type=float, default=8.0, help="node down / hang lasts this, s (8)")
    p.add_argument("--redis-gap", type=float, default=2.0, help="Redis is away this long, s (2)")
    p.add_argument(
        "--deadline",
        type=float,
        default=120.0,
        help="a request with no answer after this many wall s is lost (120)",
    )
    p.add_argument(
        "--first-chunk-timeout",
        type=float,
        default=60.0,
        help="SOLLOL_FIRST_CHUNK_TIMEOUT_S of the stack (60, as the fault tests)",
    )
    p.add_argument("--median-tokens", type=float, default=80.0, help="num_predict median (80)")
    p.add_argument("--max-tokens", type=int, default=800, help="num_predict cap (800)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="one round (< 3 min)")
    p.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the stack's logs (gateway, workers, beat, sim) and print where",
    )
    p.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = p.parse_args(argv)
    if a.quick:
        a.rounds = 1
    return a


def main(argv: Sequence[str] | None = None) -> int:
    a = _args(argv)
    print(f"# bench/chaos.py {' '.join(sys.argv[1:] if argv is None else argv)}\n")
    print(
        f"profile {a.profile} at time_scale {a.time_scale:g}, strategy {a.strategy}; "
        f"{a.rate:g} requests/s Poisson (seed {a.seed}); {a.rounds} round(s) of faults every "
        f"{a.gap:g} s from t={a.first:g} s; node faults held {a.hold:g} s, Redis away "
        f"{a.redis_gap:g} s; lost = no answer in {a.deadline:g} s\n",
        flush=True,
    )
    out = run(a)
    ok = report(a, out)
    return 1 if (a.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
