"""Where a tenant's queue wait goes: a per-request timeline of bench/fairness.py's runs.

Runs the fairness benchmark's ``alone`` and/or ``fair`` configuration while recording Redis's
MONITOR stream (every command any process sends, with Redis's own clock), then rebuilds for each
of tenant B's requests:

    published      the gateway's push into the priority list (and the position it got there:
                   how many queued messages are served before it)
    received       the worker's BRPOP delivery (kombu writes the message into ``unacked``)
    started        the worker's BEGIN script (the moment the gateway's queue_wait_ms ends)
    finished       the worker's final stream entry

and what held the host's slots when it was published (each running request's residual time).
Per request: ``wait`` = started − published; ``floor`` = the shortest residual if every slot
was busy (no queue order can start it sooner without pre-emption), else 0; ``jumped`` = other
requests received after it was published but before it (including other queues' beat tasks,
and a message already popped whose delivery Redis logs a moment later); ``held`` = requests
already delivered to a worker but not yet started when it was published (prefetched ahead of it,
or starting).

    .venv/bin/python bench/fair_timeline.py --quick --runs fair

Times are fleet seconds (wall ÷ time_scale) from the first publication. MONITOR costs Redis CPU:
the numbers are for diagnosis, the benchmark's own numbers come from bench/fairness.py.
"""

from __future__ import annotations

import contextlib
import functools
import random
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from _live import doc_parser, pct, temp_dir  # noqa: E402
from fairness import (  # noqa: E402
    Run,
    capacity,
    merge,
    run,
    trace,
)
from priority import profile  # noqa: E402

from sollol.config import SOLLOLConfig  # noqa: E402
from sollol.state.connection import bytes_client, connect  # noqa: E402

ARG = re.compile(r'"((?:[^"\\]|\\.)*)"')
TASK_ID = re.compile(r'\\*"id\\*": \\*"([0-9a-zA-Z_-]+)')
TENANT = re.compile(r'\\*"sollol_tenant\\*": \\*"([^"\\]*)')
TASK = re.compile(r'\\*"task\\*": \\*"([a-z_.]+)')
STREAM = re.compile(r":stream:([0-9a-zA-Z_-]+)")


@contextlib.contextmanager
def recording(cfg: SOLLOLConfig, out: Path) -> Iterator[object]:
    """Record Redis's MONITOR lines into ``out`` while the context runs."""
    client = bytes_client(connect(cfg))  # MONITOR lines are written to the file as bytes
    mon = client.monitor()
    conn = mon.__enter__()
    stop = threading.Event()

    def pump() -> None:
        with out.open("wb") as f:
            while not stop.is_set():
                try:
                    line = conn.connection.read_response()
                except Exception:  # the stack stopped: Redis went away
                    return
                f.write(line + b"\n")

    th = threading.Thread(target=pump, daemon=True)
    th.start()
    try:
        yield None
    finally:
        stop.set()
        th.join(2.0)


@dataclass
class Msg:
    """One task message's life, times in Redis's clock (epoch s)."""

    tid: str
    task: str = ""
    tenant: str = ""
    published: float = 0.0
    position: int = -1  # messages served before it when it was pushed
    depth: int = 0  # messages in its list then
    received: float = 0.0
    started: float = 0.0
    finished: float = 0.0


@dataclass
class Timeline:
    msgs: dict[str, Msg] = field(default_factory=dict)
    lists: dict[str, list[str]] = field(default_factory=dict)  # key -> tids, left to right
    tags: dict[str, str] = field(default_factory=dict)  # delivery tag -> tid

    def msg(self, tid: str) -> Msg:
        return self.msgs.setdefault(tid, Msg(tid))

    def pushed(self, t: float, key: str, raw: str, index_from_left: int | None) -> None:
        m = TASK_ID.search(raw)
        if not m:
            return
        msg = self.msg(m.group(1))
        if not msg.published:
            msg.published = t
            msg.task = (TASK.search(raw) or _NONE).group(1)
            msg.tenant = (TENANT.search(raw) or _NONE).group(1)
        items = self.lists.setdefault(key, [])
        at = 0 if index_from_left is None else index_from_left
        items.insert(at, msg.tid)
        if msg.position < 0:
            msg.position, msg.depth = len(items) - 1 - at, len(items) - 1

    def received(self, t: float, tag: str, raw: str) -> None:
        m = TASK_ID.search(raw)
        if not m:
            return
        msg = self.msg(m.group(1))
        self.tags[tag] = msg.tid
        if not msg.received:
            msg.received = t
        for items in self.lists.values():
            if msg.tid in items:
                items.remove(msg.tid)


_NONE = re.match("(.*)", "")
assert _NONE is not None


def parse(path: Path) -> Timeline:
    """Rebuild every message's timeline from a MONITOR recording."""
    tl = Timeline()
    for line in path.read_bytes().decode("utf-8", "replace").splitlines():
        head, _, rest = line.partition(" ")
        try:
            t = float(head.lstrip("+"))
        except ValueError:
            continue
        args = ARG.findall(rest)
        if not args:
            continue
        _event(tl, t, args[0].upper(), args[1:])
    return tl


def _event(tl: Timeline, t: float, cmd: str, a: list[str]) -> None:
    if cmd == "LPUSH" and a and ":" not in a[0]:  # a host queue's list (sollol: keys have ':')
        for raw in a[1:]:
            tl.pushed(t, a[0], raw, None)
    elif cmd == "RPUSH" and a and ":" not in a[0]:
        for raw in a[1:]:
            tl.pushed(t, a[0], raw, len(tl.lists.setdefault(a[0], [])))
    elif cmd == "LINSERT" and len(a) >= 4:
        items = tl.lists.setdefault(a[0], [])
        pm = TASK_ID.search(a[2])
        pivot = items.index(pm.group(1)) if pm and pm.group(1) in items else len(items) - 1
        tl.pushed(t, a[0], a[3], pivot + (1 if a[1].upper() == "AFTER" else 0))
    elif cmd == "HSET" and len(a) >= 3 and a[0] == "unacked":
        tl.received(t, a[1], a[2])
    elif cmd == "EVALSHA" and len(a) >= 3 and a[1] == "5":
        m = STREAM.search(a[2])
        if m:
            for msg in tl.msgs.values():
                if msg.tid.startswith(m.group(1)) and not msg.started:
                    msg.started = t
    elif cmd == "XADD" and a and '"final"' in " ".join(f'"{x}"' for x in a):
        m = STREAM.search(a[0])
        if m:
            for msg in tl.msgs.values():
                if msg.tid.startswith(m.group(1)) and msg.started and not msg.finished:
                    msg.finished = t


def _who(m: Msg) -> str:
    """A short name: the tenant's letter, else the task's name."""
    return m.tenant.split("-")[1] if m.tenant.startswith("tenant-") else m.task.rsplit(".")[-1]


def report(tl: Timeline, time_scale: float, tenant: str, slots: int, worst: int) -> None:
    """Per-request decomposition of ``tenant``'s waits, worst first, and a summary."""
    msgs = [m for m in tl.msgs.values() if m.task.endswith("infer")]
    t0 = min((m.published for m in msgs), default=0.0)

    def fs(x: float) -> float:
        return (x - t0) / time_scale

    rows = []
    for m in msgs:
        if not m.tenant.startswith(f"tenant-{tenant}") or not m.started:
            continue
        # a slot is held from the worker's delivery of a request to its end
        running = [o for o in msgs if o.received and o.received <= m.published < o.finished]
        residuals = sorted((o.finished - m.published) / time_scale for o in running)
        floor = residuals[0] if len(running) >= slots else 0.0
        jumped = [
            o for o in tl.msgs.values() if o is not m and m.published < o.received < m.received
        ]
        held = [o for o in msgs if o.received and o.received <= m.published < o.started]
        rows.append((m, (m.started - m.published) / time_scale, floor, residuals, jumped, held))
    rows.sort(key=lambda r: -r[1])
    print(f"tenant {tenant}: {len(rows)} requests; worst {worst}:")
    print(" pub_s  pos/depth  recv-pub  start-recv  wait  floor  residuals  jumped_by  held")
    for m, wait, floor, res, jumped, held in rows[:worst]:
        jb = ",".join(_who(o) for o in jumped)
        print(
            f"{fs(m.published):7.2f}  {m.position:3d}/{m.depth:<4d}"
            f"  {(m.received - m.published) / time_scale:7.3f}"
            f"  {(m.started - m.received) / time_scale:9.3f}  {wait:5.2f}  {floor:5.2f}"
            f"  {'/'.join(f'{r:.2f}' for r in res):10s} {jb or '-':10s} {len(held)}"
        )
    print(handoff(msgs, time_scale))
    waits = [r[1] for r in rows]
    excess = [r[1] - r[2] for r in rows]
    print(
        f"wait p50 {pct(waits, 50):.2f} p99 {pct(waits, 99):.2f}; above the floor p50 "
        f"{pct(excess, 50):.3f} p99 {pct(excess, 99):.3f}; jumped {sum(bool(r[4]) for r in rows)}"
        f", found a held message {sum(bool(r[5]) for r in rows)}, not first in line "
        f"{sum(r[0].position > 0 for r in rows)} of {len(rows)}"
    )


def handoff(msgs: list[Msg], time_scale: float) -> str:
    """How long a freed slot stays empty: from the last request finishing before a waiting one
    was received to that one's start (the worker's ack, BRPOP, delivery and BEGIN)."""
    ends = sorted(m.finished for m in msgs if m.finished)
    gaps = []
    for m in msgs:
        before = [e for e in ends if m.published < e <= m.received]
        if m.started and before:
            gaps.append(m.started - before[-1])
    fleet = [g / time_scale for g in gaps]
    return (
        f"handoff (slot freed -> next request started), {len(gaps)} requests: p50 "
        f"{pct(gaps, 50) * 1000:.1f} ms wall = {pct(fleet, 50):.3f} fleet s, p99 "
        f"{pct(gaps, 99) * 1000:.1f} ms wall = {pct(fleet, 99):.3f} fleet s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = doc_parser(__doc__ or "")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", default="alone,fair", help="alone, fair (comma-separated)")
    parser.add_argument("--time-scale", type=float, default=0.1)
    parser.add_argument("--b-load", type=float, default=0.1)
    parser.add_argument("--ratio", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worst", type=int, default=12, help="requests listed per run")
    parser.add_argument("--keep", type=Path, help="directory for the MONITOR recordings")
    args = parser.parse_args(argv)
    duration = 25.0 if args.quick else 60.0
    ts = args.time_scale
    rate_b = args.b_load * capacity() / ts
    rng = random.Random(args.seed)
    b = trace(rng, rate_b, duration, "B")
    a = trace(rng, args.ratio * rate_b, duration, "A")
    out_dir = args.keep or temp_dir("sollol-fair-timeline-")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = profile(out_dir, ts)
    for name in args.runs.split(","):
        reqs = merge(b) if name == "alone" else merge(a, b)
        rec = out_dir / f"{name}.monitor"
        drain = max(0.0, len(reqs) / (capacity() / ts) - duration) + 30.0
        result: Run = run(
            path, ts, reqs, False, drain, observe=functools.partial(recording, out=rec)
        )
        print(f"\n== {name}: gateway B wait p99 {pct(result.waits('B'), 99):.2f} s", flush=True)
        report(parse(rec), ts, "B", 2, args.worst)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
