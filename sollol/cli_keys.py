"""``sollol keys create|list|revoke``: API keys, managed in SOLLOL's Redis (shared by every gateway).

The command talks to Redis directly (``--redis-url`` or ``SOLLOL_REDIS_URL``), so the first admin
key can be made before any gateway requires one. The plain key is printed once, at creation.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_keys_commands", "keys_command"]


def add_keys_commands(sub: Any) -> None:
    """Add ``keys`` and its subcommands to the ``sollol`` parser."""
    k = sub.add_parser("keys", help="create, list and revoke API keys")
    k.add_argument("--redis-url", help="SOLLOL's Redis (default: SOLLOL_REDIS_URL)")
    ks = k.add_subparsers(dest="keys_command", required=True)
    c = ks.add_parser("create", help="create a key and print it (once)")
    c.add_argument("name", help="who the key is for (letters, digits, -_.@)")
    c.add_argument("--max-priority", type=int, default=10, help="cap on request priority (1-10)")
    c.add_argument("--rpm", type=int, default=0, help="requests per minute (0 = unlimited)")
    c.add_argument("--tpm", type=int, default=0, help="tokens per minute (0 = unlimited)")
    c.add_argument("--concurrency", type=int, default=0, help="requests in flight (0 = unlimited)")
    c.add_argument("--models", default="", help="comma-separated models allowed (default: all)")
    c.add_argument("--admin", action="store_true", help="may see the fleet and manage it")
    c.add_argument("--expires-days", type=float, default=0, help="valid this many days (0 = ever)")
    lst = ks.add_parser("list", help="list keys (never their secrets)")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    r = ks.add_parser("revoke", help="revoke a key at once")
    r.add_argument("name")


def keys_command(args: argparse.Namespace) -> int:
    """Run ``sollol keys …``; returns the exit status."""
    import redis as redis_lib

    from sollol.config import load_config
    from sollol.state.connection import connect
    from sollol.state.keys import KeyProblem, KeyStore

    overrides = {"redis_url": args.redis_url} if args.redis_url else {}
    cfg = load_config(**overrides)
    store = KeyStore.for_config(connect(cfg), cfg)
    try:
        if args.keys_command == "create":
            return _create(store, args)
        if args.keys_command == "list":
            return _list(store, args.json)
        store.revoke(args.name)
        print(f"revoked key {args.name!r}")
        return 0
    except KeyProblem as exc:
        print(f"sollol keys: {exc}", file=sys.stderr)
        return 1
    except redis_lib.RedisError as exc:
        print(
            f"sollol keys: cannot reach SOLLOL's Redis ({exc}); pass --redis-url or set "
            "SOLLOL_REDIS_URL",
            file=sys.stderr,
        )
        return 1


def _create(store: Any, args: argparse.Namespace) -> int:
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    expires = time.time() + args.expires_days * 86400 if args.expires_days > 0 else 0.0
    secret, key = store.create(
        args.name,
        max_priority=args.max_priority,
        rpm=args.rpm,
        tpm=args.tpm,
        concurrency=args.concurrency,
        models=models,
        admin=args.admin,
        expires_at=expires,
    )
    print(secret)
    print(
        f"created key {key.name!r}{' (admin)' if key.admin else ''}: store it now, it is not "
        "shown again",
        file=sys.stderr,
    )
    return 0


def _list(store: Any, as_json: bool) -> int:
    keys = store.list()
    if as_json:
        print(json.dumps([k.public() for k in keys], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "admin", "max prio", "rpm", "tpm", "conc", "models", "state", "source")
    now = time.time()
    for k in keys:
        table.add_row(
            k.name,
            "yes" if k.admin else "",
            str(k.max_priority),
            str(k.rpm or "-"),
            str(k.tpm or "-"),
            str(k.concurrency or "-"),
            ",".join(k.models) or "all",
            k.problem(now) or "active",
            k.source,
        )
    Console().print(table)
    return 0
