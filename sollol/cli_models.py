"""``sollol models``, ``sollol pull MODEL [--hosts a,b]`` and ``sollol rm MODEL``: models across
the fleet, through the gateway's model-management endpoints (sollol/api/models.py)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import requests

from sollol.state.snapshot import expires_timestamp

__all__ = ["add_models_commands", "models_command"]

DEFAULT_URL = "http://127.0.0.1:8000"
COMMANDS = ("models", "pull", "rm")


def add_models_commands(sub: Any) -> None:
    """Register ``models``, ``pull`` and ``rm`` on the ``sollol`` sub-command parser."""
    m = sub.add_parser("models", help="models × hosts: installed, loaded, size in VRAM, expires")
    m.add_argument("--url", default=DEFAULT_URL, help="gateway URL")
    m.add_argument("--json", action="store_true", help="print the gateway's answer as JSON")
    p = sub.add_parser("pull", help="pull a model onto every live host (a progress bar per host)")
    p.add_argument("model")
    p.add_argument("--hosts", help="comma-separated hosts (default: every live host)")
    p.add_argument("--url", default=DEFAULT_URL, help="gateway URL")
    r = sub.add_parser("rm", help="delete a model from every host that has it")
    r.add_argument("model")
    r.add_argument("--hosts", help="comma-separated hosts (default: every host that has it)")
    r.add_argument("--url", default=DEFAULT_URL, help="gateway URL")


def models_command(args: argparse.Namespace) -> int:
    """Run ``models``, ``pull`` or ``rm``; 0 on success, 1 on failure."""
    try:
        if args.command == "models":
            return _table(args)
        if args.command == "pull":
            return _pull(args)
        return _rm(args)
    except requests.RequestException as exc:
        print(f"sollol: cannot reach the gateway at {args.url}: {exc}", file=sys.stderr)
        return 1


def _headers() -> dict[str, str]:
    from sollol.config import load_config
    from sollol.state.keys import auth_headers

    return {"Content-Type": "application/json", **auth_headers(load_config())}


def _params(args: argparse.Namespace) -> dict[str, str]:
    return {"hosts": args.hosts} if getattr(args, "hosts", None) else {}


def _error(r: requests.Response) -> str:
    try:
        return str(r.json().get("error", r.text))
    except ValueError:
        return r.text.strip() or f"HTTP {r.status_code}"


# --- sollol models ----------------------------------------------------------------------------


def _table(args: argparse.Namespace) -> int:
    from rich.console import Console

    r = requests.get(f"{args.url.rstrip('/')}/api/models", headers=_headers(), timeout=10)
    if r.status_code != 200:
        print(f"sollol: {_error(r)}", file=sys.stderr)
        return 1
    data = r.json()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    Console().print(models_table(data["hosts"], time.time()))
    return 0


def models_table(hosts: list[dict[str, Any]], now: float) -> Any:
    """A rich Table: one row per model, one column per host; a cell says installed or loaded
    (size in VRAM, time until it expires)."""
    from rich.table import Table

    table = Table(title="SOLLOL models")
    table.add_column("model")
    for h in hosts:
        table.add_column(h["name"] + ("" if h["alive"] else " (down)"))
    names = sorted({m["name"] for h in hosts for m in h["installed"] + h["loaded"]})
    for name in names:
        table.add_row(name, *(_cell(h, name, now) for h in hosts))
    return table


def _cell(host: dict[str, Any], name: str, now: float) -> str:
    loaded = next((m for m in host["loaded"] if m["name"] == name), None)
    if loaded is not None:
        vram = f"{loaded['size_vram'] / 2**30:.1f} GB VRAM" if loaded["size_vram"] else "CPU"
        return f"[green]loaded[/] {vram}, {_expires(str(loaded['expires_at']), now)}"
    if any(m["name"] == name for m in host["installed"]):
        return "installed"
    return "[dim]-[/]"


def _expires(expires_at: str, now: float) -> str:
    at = expires_timestamp(expires_at)
    if at == float("inf") or at > now + 10 * 365 * 86400:
        return "never expires"
    left = max(0.0, at - now)
    return f"expires in {left / 60:.0f} min" if left >= 120 else f"expires in {left:.0f} s"


# --- sollol pull / rm -------------------------------------------------------------------------


def _pull(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    headers = {**_headers(), "X-SOLLOL-Progress": "hosts"}
    url = f"{args.url.rstrip('/')}/api/pull"
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn())
    with (
        requests.post(
            url, json={"model": args.model}, params=_params(args), headers=headers, stream=True
        ) as r,
        Progress(*columns, TransferSpeedColumn()) as bars,
    ):
        if r.status_code != 200:
            bars.console.print(f"[red]sollol: {_error(r)}")
            return 1
        last = follow_pull(r.iter_lines(), bars)
    if "error" in last:
        print(f"sollol: {last['error']}", file=sys.stderr)
        return 1
    print(f"{args.model}: success")
    return 0


def follow_pull(lines: Any, bars: Any) -> dict[str, Any]:
    """Draw one bar per host from per-host progress lines; return the final (merged) line."""
    tasks: dict[str, Any] = {}
    last: dict[str, Any] = {}
    for raw in lines:
        if not raw:
            continue
        last = json.loads(raw)
        host = last.get("host")
        if not host:
            continue
        if host not in tasks:
            tasks[host] = bars.add_task(host, total=None)
        if "error" in last:
            bars.update(tasks[host], description=f"[red]{host}: {last['error']}")
        elif last.get("total"):
            bars.update(tasks[host], total=last["total"], completed=last.get("completed", 0))
            bars.update(tasks[host], description=f"{host} {last.get('status', '')}")
        else:
            bars.update(tasks[host], description=f"{host} {last.get('status', '')}")
    return last


def _rm(args: argparse.Namespace) -> int:
    r = requests.delete(
        f"{args.url.rstrip('/')}/api/delete",
        json={"model": args.model},
        params=_params(args),
        headers=_headers(),
        timeout=600,
    )
    if r.status_code != 200:
        print(f"sollol: {_error(r)}", file=sys.stderr)
        return 1
    print(f"deleted {args.model}")
    return 0
