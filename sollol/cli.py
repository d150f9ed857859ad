"""The ``sollol`` command line: up, sim, worker, status, version."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any, NoReturn

from sollol import __version__
from sollol.config import ConfigError, SOLLOLConfig, child_env, load_config

__all__ = ["DEFAULT_HOSTS_FILE", "main"]

DEFAULT_HOSTS_FILE = "config/hosts.txt"  # where the original SOLLOL's CLI read its hosts


def _up_parser(sub: Any) -> None:
    p = sub.add_parser(
        "up",
        help="run the whole stack on this box (Redis, gateway, beat, workers)",
        description="Run gateway, beat and one Celery worker per host on this box. "
        "Without --redis-url (or SOLLOL_REDIS_URL) an embedded redis-server is "
        "started and stopped with SOLLOL.",
    )
    p.add_argument("--port", type=int, help="gateway port (default 8000)")
    p.add_argument("--bind", help="gateway address (default 127.0.0.1)")
    p.add_argument("--redis-url", help="use this Redis instead of an embedded one")
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--hosts",
        metavar="FILE|LIST",
        help="Ollama hosts: a file with one per line ('gpu-a http://10.0.0.5:11434 slots=4 "
        "tags=gpu' or 'addr:port'), or a comma-separated list 'a:11434,b:11434' "
        f"(default: {DEFAULT_HOSTS_FILE} when it exists)",
    )
    src.add_argument("--sim", type=int, metavar="N", help="start N simulated Ollama nodes")
    src.add_argument("--sim-profile", metavar="FILE", help="start the simulated fleet of FILE")
    p.add_argument("--time-scale", type=float, help="simulator time scale (0.1 = 10x faster)")
    p.add_argument(
        "--strategy",
        help="routing strategy: performance (default), round_robin, "
        "random, least_connections, priority",
    )
    p.add_argument("--slots", type=int, help="parallel requests per host for --hosts (default 4)")
    p.add_argument("--flower", action="store_true", help="also start Flower on :5555")
    p.add_argument("--flower-port", type=int, default=5555)
    _original_flags(p)


def _original_flags(p: argparse.ArgumentParser) -> None:
    """The original SOLLOL's ``up`` flags, mapped by sollol.compat (or explained away)."""
    o = p.add_argument_group("the original SOLLOL's options")
    o.add_argument(
        "--autobatch",
        action=argparse.BooleanOptionalAction,
        help="batch embedding jobs (default on)",
    )
    o.add_argument("--autobatch-interval", type=float, metavar="S", help="seconds between cycles")
    o.add_argument(
        "--adaptive-metrics",
        action=argparse.BooleanOptionalAction,
        help="always on here: routing learns from Ollama's timings",
    )
    o.add_argument(
        "--adaptive-metrics-interval",
        type=float,
        metavar="S",
        help="seconds between fleet metric refreshes (metrics_refresh_interval_s)",
    )
    o.add_argument("--metrics-port", type=int, help="also serve /metrics on this port (e.g. 9090)")
    o.add_argument("--workers", type=int, help="no Ray here: worker concurrency is --slots")
    o.add_argument("--dask-workers", type=int, help="no Dask here: batches run on host workers")
    o.add_argument("--dask-scheduler", help="no Dask here: share a Redis with --redis-url")


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sollol", description="One Ollama endpoint for a fleet of Ollama servers."
    )
    parser.add_argument("--version", action="version", version=f"sollol {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    _up_parser(sub)
    sub.add_parser(
        "sim", help="run simulated Ollama nodes (see `sollol sim --help`)", add_help=False
    )
    w = sub.add_parser(
        "worker",
        help="run the Celery worker for this box's Ollama",
        description="Shorthand for `celery -A sollol worker -Q HOST -n HOST@%%h`.",
    )
    w.add_argument("host", help="this host's name, also its queue ([a-z0-9][a-z0-9-]*)")
    w.add_argument("--ollama-url", help="local Ollama (default http://127.0.0.1:11434)")
    w.add_argument("--slots", type=int, help="parallel requests (= OLLAMA_NUM_PARALLEL)")
    g = sub.add_parser(
        "gateway",
        help="run only the gateway (gunicorn) on SOLLOL_BIND:PORT",
        description="Run the Flask gateway under gunicorn with settings from "
        "SOLLOL_* variables; Redis, workers and beat run elsewhere.",
    )
    g.add_argument("--port", type=int)
    g.add_argument("--bind")
    s = sub.add_parser("status", help="print the fleet as the gateway sees it")
    s.add_argument(
        "--url", help="gateway URL (default: this box's gateway on SOLLOL_BIND:SOLLOL_PORT, 8000)"
    )
    from sollol.cli_fleet import add_fleet_commands

    add_fleet_commands(sub)
    from sollol.cli_keys import add_keys_commands

    add_keys_commands(sub)
    from sollol.cli_models import add_models_commands

    add_models_commands(sub)
    f = sub.add_parser(
        "flower",
        help="run Flower (basic auth from SOLLOL_FLOWER_BASIC_AUTH; required off loopback)",
    )
    f.add_argument("--port", type=int, default=5555)
    from sollol.embed_cli import add_embed_command

    add_embed_command(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: PLR0911 - one return per command
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sim"]:
        from sollol.sim.cli import main as sim_main

        return sim_main(args_list[1:])
    args = _build_parser().parse_args(args_list)
    try:
        if args.command == "up":
            return _up(args)
        if args.command == "worker":
            return _worker(args)
        if args.command == "gateway":
            return _gateway(args)
        if args.command == "status":
            return _status(args)
        if args.command == "embed":
            from sollol.embed_cli import embed_command

            return embed_command(args)
        if args.command == "flower":
            return _flower(args)
        if args.command == "keys":
            from sollol.cli_keys import keys_command

            return keys_command(args)
        if args.command in ("models", "pull", "rm"):
            from sollol.cli_models import models_command

            return models_command(args)
        if args.command in ("hosts", "route"):
            from sollol.cli_fleet import explain_command, hosts_command

            return hosts_command(args) if args.command == "hosts" else explain_command(args)
    except ConfigError as exc:
        print(f"sollol: {exc}", file=sys.stderr)
        return 2
    return 2


def _up(args: argparse.Namespace) -> int:
    from sollol.embedded_redis import RedisNotFound
    from sollol.launcher import Stack

    cfg = load_config(**_up_settings(args))
    _check_strategy(cfg.strategy)
    stack = Stack(
        cfg,
        sim_profile=args.sim_profile,
        sim_nodes=args.sim or 0,
        time_scale=args.time_scale,
        flower=args.flower,
        flower_port=args.flower_port,
    )
    try:
        stack.hosts = _hosts_of(args, cfg)
    except (OSError, ValueError) as exc:
        print(f"sollol: {exc}", file=sys.stderr)
        return 2

    def _stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    # also when started in the background by a non-interactive shell, which ignores SIGINT
    signal.signal(signal.SIGINT, _stop)
    try:
        print("starting SOLLOL…", flush=True)
        stack.start()
        stack.print_ready()
        stack.supervise()
    except KeyboardInterrupt:
        print("\nstopping SOLLOL…", flush=True)
    except (RedisNotFound, RuntimeError, ValueError) as exc:
        print(f"sollol: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    print("SOLLOL stopped", flush=True)
    return 0


def _up_settings(args: argparse.Namespace) -> dict[str, Any]:
    """Settings from ``up``'s flags; the original's names go through sollol.compat."""
    pairs = (
        ("port", args.port),
        ("bind", args.bind),
        ("redis_url", args.redis_url),
        ("strategy", args.strategy),
        ("autobatch_enabled", args.autobatch),
        ("autobatch_interval", args.autobatch_interval),
        ("adaptive_metrics_interval", args.adaptive_metrics_interval),
        ("metrics_port", args.metrics_port),
        ("ray_workers", args.workers),
        ("dask_workers", args.dask_workers),
        ("dask_scheduler", args.dask_scheduler),
    )
    settings = {k: v for k, v in pairs if v is not None}
    if args.adaptive_metrics is False:
        settings["adaptive_metrics_enabled"] = False
    return settings


def _hosts_of(args: argparse.Namespace, cfg: SOLLOLConfig) -> list[Any]:
    """--hosts FILE or LIST, else SOLLOL_HOSTS, else config/hosts.txt (not with --sim)."""
    from pathlib import Path

    from sollol.hosts import parse_hosts, parse_hosts_file

    slots = args.slots or cfg.worker_slots
    if args.hosts:
        if Path(args.hosts).is_file():
            return parse_hosts_file(args.hosts, slots=slots)
        if "," in args.hosts or ":" in args.hosts:
            return parse_hosts(args.hosts.split(","), slots=slots, where="--hosts")
        raise ValueError(f"--hosts {args.hosts}: no such file (a list is 'addr:port,addr:port')")
    if args.sim or args.sim_profile:
        return []
    if cfg.hosts:
        return parse_hosts(cfg.hosts, slots=slots, where="SOLLOL_HOSTS")
    if Path(DEFAULT_HOSTS_FILE).is_file():
        print(f"hosts from {DEFAULT_HOSTS_FILE}", flush=True)
        return parse_hosts_file(DEFAULT_HOSTS_FILE, slots=slots)
    return []


def _check_strategy(name: str) -> None:
    from sollol.router import STRATEGIES

    if name not in STRATEGIES:
        raise ConfigError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def _worker(args: argparse.Namespace) -> int:
    from sollol.names import InvalidHostName, validate_host_name

    try:
        validate_host_name(args.host)
    except InvalidHostName as exc:
        print(f"sollol: {exc}", file=sys.stderr)
        return 2
    settings: dict[str, Any] = {}
    if args.ollama_url:
        settings["ollama_url"] = args.ollama_url
    if args.slots:
        settings["worker_slots"] = args.slots
    cfg = load_config(**settings)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "sollol",
        "worker",
        "-Q",
        args.host,
        "-n",
        f"{args.host}@%h",
        "-c",
        str(cfg.worker_slots),
        "--loglevel",
        "INFO",
    ]
    return _exec(argv, child_env(cfg))


def _exec(argv: list[str], env: dict[str, str]) -> NoReturn:
    """Replace this process with ``argv`` (the worker or the gateway)."""
    os.execve(sys.executable, argv, env)


def _gateway(args: argparse.Namespace) -> int:
    overrides = {k: v for k, v in (("port", args.port), ("bind", args.bind)) if v is not None}
    cfg = load_config(**overrides)
    _check_strategy(cfg.strategy)
    from sollol.launcher import gunicorn_argv

    return _exec(gunicorn_argv(cfg), child_env(cfg))


def _flower(args: argparse.Namespace) -> int:
    from sollol.launcher import flower_command

    try:
        argv, extra = flower_command(load_config(), args.port)
    except ValueError as exc:
        print(f"sollol flower: {exc}", file=sys.stderr)
        return 2
    return _exec(argv, {**os.environ, **extra})


def _status(args: argparse.Namespace) -> int:
    cfg = load_config()
    if not args.url:  # the gateway `sollol up` started here, on the port the settings give
        host = "127.0.0.1" if cfg.bind in ("0.0.0.0", "", "::") else cfg.bind
        args.url = f"http://{host}:{cfg.port}"
    try:
        from sollol.state.keys import auth_headers

        req = urllib.request.Request(args.url.rstrip("/") + "/api/fleet", headers=auth_headers(cfg))
        with urllib.request.urlopen(req, timeout=5) as r:
            fleet = json.loads(r.read())
    except (OSError, urllib.error.URLError) as exc:
        print(f"sollol: cannot reach the gateway at {args.url}: {exc}", file=sys.stderr)
        return 1
    print(f"strategy: {fleet['strategy']}")
    print(f"{'HOST':<16} {'STATE':<8} {'RUN':>4} {'QUEUED':>6}  LOADED")
    for h in fleet["hosts"]:
        print(
            f"{h['name']:<16} {h['health']:<8} {h['running']:>4} {sum(h['queued']):>6}  "
            f"{', '.join(h['loaded']) or '-'}"
        )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
