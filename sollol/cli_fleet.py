"""``sollol hosts`` and ``sollol route --explain``: look at a running fleet through its gateway."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import Any

__all__ = ["add_fleet_commands", "explain_command", "hosts_command"]

DEFAULT_URL = "http://127.0.0.1:8000"


def add_fleet_commands(sub: Any) -> None:
    """Register ``hosts`` and ``route`` on the ``sollol`` sub-command parser."""
    h = sub.add_parser("hosts", help="the fleet as a table (state, load, models, learned speed)")
    h.add_argument("--url", default=DEFAULT_URL, help="gateway URL")
    h.add_argument("--json", action="store_true", help="print /api/fleet as JSON instead")
    r = sub.add_parser(
        "route",
        help="where a request would go and why, without sending it",
        description="Ask the gateway which host the request would be routed to now, with the "
        "router's reasoning and the alternatives. Nothing is sent to any host.",
    )
    r.add_argument(
        "--explain",
        required=True,
        metavar="JSON",
        help='the request body, e.g. \'{"model": "llama3.2", "messages": [...]}\'; - reads stdin',
    )
    r.add_argument(
        "--endpoint", help="chat, generate, embed or embeddings (default: from the body)"
    )
    r.add_argument("--priority", type=int, help="1..10 (default: the gateway's default)")
    r.add_argument("--url", default=DEFAULT_URL, help="gateway URL")
    r.add_argument("--json", action="store_true", help="print the gateway's answer as JSON")


def _call(url: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    from sollol.config import load_config
    from sollol.state.keys import auth_headers

    headers = {"Content-Type": "application/json", **auth_headers(load_config())}
    req = urllib.request.Request(url, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as exc:
        detail = json.loads(exc.read() or b"{}").get("error", exc.reason)
        raise RuntimeError(f"{exc.code}: {detail}") from None


def _speed(stats: dict[str, Any]) -> str:
    parts = [f"{m} {s['gen_tps']:.0f} tok/s" for m, s in stats.items() if s.get("gen_tps")]
    return "\n".join(parts) or "-"


def hosts_command(args: argparse.Namespace) -> int:
    """Print every host with state, running/slots, queue, loaded models and learned speed."""
    from rich.console import Console
    from rich.table import Table

    try:
        fleet = _call(args.url.rstrip("/") + "/api/fleet")
    except (OSError, RuntimeError) as exc:
        print(f"sollol: cannot reach the gateway at {args.url}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(fleet, indent=2))
        return 0
    colour = {"healthy": "green", "degraded": "yellow", "down": "red"}
    table = Table(title=f"SOLLOL fleet · strategy {fleet['strategy']}")
    for col in ("host", "ollama", "state", "run/slots", "queued", "loaded", "tags", "speed"):
        table.add_column(
            col,
            justify="right" if col in ("run/slots", "queued") else "left",
            no_wrap=col in ("host", "ollama"),
        )
    for h in sorted(fleet["hosts"], key=lambda x: x["name"]):
        state = f"[{colour.get(h['health'], 'white')}]{h['health']}[/]"
        if h["circuit"] != "closed":
            state += f"\ncircuit {h['circuit']}"
        table.add_row(
            h["name"],
            h["url"],
            state + (f"\n{h['reason']}" if h["reason"] else ""),
            f"{h['running']}/{h['slots']}",
            str(sum(h["queued"])),
            "\n".join(h["loaded"]) or "-",
            ",".join(h["tags"]) or "-",
            _speed(h["stats"]),
        )
    # piped or captured: wide enough that nothing is cut (a terminal uses its own width)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    return 0


def explain_command(args: argparse.Namespace) -> int:
    """Print the host a request would be routed to, why, and the alternatives."""
    raw = sys.stdin.read() if args.explain == "-" else args.explain
    try:
        body = json.loads(raw)
    except ValueError as exc:
        print(f"sollol: --explain is not JSON: {exc}", file=sys.stderr)
        return 2
    query = [f"{k}={v}" for k, v in (("endpoint", args.endpoint), ("priority", args.priority)) if v]
    url = args.url.rstrip("/") + "/api/route" + ("?" + "&".join(query) if query else "")
    try:
        out = _call(url, body)
    except (OSError, RuntimeError) as exc:
        print(f"sollol: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    p, d = out["profile"], out["decision"]
    print(
        f"{out['endpoint']} {p['model']} · {p['task_type']} ({p['complexity']}) · "
        f"priority {p['priority']} · ~{p['prompt_tokens']} prompt tokens"
    )
    print(f"→ {d['host']}  score {d['score']:.3f}, predicted {d['predicted_ms']:.0f} ms")
    print(f"  why: {d['reasoning']}")
    for a in d["alternatives"]:
        print(f"  or {a['host']}: score {a['score']:.3f}, predicted {a['predicted_ms']:.0f} ms")
    return 0
