"""``sollol sim``: run simulated Ollama nodes in the foreground until SIGINT/SIGTERM.

    sollol sim --profile deploy/sim/mixed.yaml
    sollol sim --nodes 3 --base-port 11501 --time-scale 0.1
    python -m sollol.sim --profile deploy/sim/faulty.yaml --control-port 11600

Prints one row per node, then ``SOLLOL sim ready: N nodes`` (launchers wait for that line).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from collections.abc import Sequence

from sollol.sim.fleet import AsyncSimFleet
from sollol.sim.profile import (
    DEFAULT_BASE_PORT,
    FleetProfile,
    ProfileError,
    load_profile,
    uniform_profile,
)

__all__ = ["build_parser", "main"]

READY_LINE = "SOLLOL sim ready: {n} nodes"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sollol sim", description="Run simulated Ollama nodes speaking Ollama's HTTP API."
    )
    src = parser.add_mutually_exclusive_group()
    src.add_argument(
        "--nodes", type=int, metavar="N", help="N identical nodes (default 2 when no --profile)"
    )
    src.add_argument("--profile", metavar="FILE", help="a fleet profile (YAML, see deploy/sim/)")
    parser.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        metavar="P",
        help=f"port of the first node without its own port (default {DEFAULT_BASE_PORT})",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        metavar="F",
        help="multiply every simulated delay (0.1 = 10x faster; default: the profile's)",
    )
    parser.add_argument(
        "--control-port",
        type=int,
        metavar="P",
        help="fleet control server port (default base-port - 1; 0 = any free port; -1 = none)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 in containers)",
    )
    return parser


def _profile(args: argparse.Namespace) -> FleetProfile:
    if args.profile:
        return load_profile(args.profile, base_port=args.base_port, time_scale=args.time_scale)
    nodes = 2 if args.nodes is None else args.nodes
    if nodes < 1:
        raise ProfileError("--nodes must be at least 1")
    scale = 1.0 if args.time_scale is None else args.time_scale
    if scale <= 0:
        raise ProfileError("--time-scale must be positive")
    return uniform_profile(nodes, base_port=args.base_port, time_scale=scale)


def _control_port(args: argparse.Namespace) -> int | None:
    """The asked-for control port; the default one (base-port - 1) is skipped if taken, since
    the nodes matter more than their remote control."""
    if args.control_port is not None:
        return None if args.control_port < 0 else int(args.control_port)
    port = int(args.base_port) - 1
    if not 0 < port < 65536 or not _can_bind(args.host, port):
        print(
            f"sollol sim: control port {port} unavailable; running without a control server "
            "(choose one with --control-port)",
            file=sys.stderr,
        )
        return None
    return port


def _can_bind(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _print_table(fleet: AsyncSimFleet) -> None:
    rows = [("NODE", "URL", "LOADED MODELS", "SLOTS")]
    for name, server in fleet.servers.items():
        loaded = ", ".join(server.node.scheduler.runners) or "-"
        rows.append((name, server.url, loaded, str(server.node.spec.num_parallel)))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[3])
    if fleet.control_url:
        print(
            f"control: {fleet.control_url}  (GET /nodes, POST /nodes/<name>/fault, GET /requests)"
        )
    print(READY_LINE.format(n=len(fleet.servers)), flush=True)


async def serve(profile: FleetProfile, host: str, control_port: int | None) -> None:
    """Run the fleet until SIGINT or SIGTERM, then close every port."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await AsyncSimFleet(profile, host, control_port).run(stop, on_ready=_print_table)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``sollol sim`` and ``python -m sollol.sim``; exit status 0 after a signal."""
    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        profile = _profile(args)
        asyncio.run(serve(profile, args.host, _control_port(args)))
    except ProfileError as exc:
        print(f"sollol sim: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"sollol sim: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0
