"""gunicorn settings of the gateway (``gunicorn -c python:sollol.api.gunicorn_conf``).

When the gateway runs several worker processes, or serves metrics on ``metrics_port``, metrics
go through prometheus_client's multiprocess mode: each worker writes its counters to files in
``PROMETHEUS_MULTIPROC_DIR`` (a fresh directory per gateway start, made here in the master
before any worker imports prometheus_client), /metrics sums them, and the master serves the
same sum on ``metrics_port`` (the original SOLLOL's 9090) once the workers are up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from sollol.config import load_config

_cfg = load_config()
_owned_dir = ""


def descriptors_needed(open_requests: int) -> int:
    """File descriptors one gateway process may hold: a client socket and a Redis connection
    per open request, the pool's 64 spare connections, and room for files and logs."""
    return 2 * open_requests + 64 + 256


def raise_descriptor_limit(needed: int) -> int:
    """Raise this process's soft RLIMIT_NOFILE towards ``needed`` (never past the hard limit;
    workers inherit it). Many systems start services at a soft limit of 1024, fewer than a
    gevent gateway's 1000 open requests need. Returns the soft limit now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return needed
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        soft = want
    return soft


_needed = descriptors_needed(_cfg.gateway_open_requests)
if (_soft := raise_descriptor_limit(_needed)) < _needed:
    import sys

    print(
        f"SOLLOL gateway: the file descriptor limit ({_soft}) is below what "
        f"{_cfg.gateway_open_requests} open requests need ({_needed}); raise the hard limit "
        "(ulimit -Hn, LimitNOFILE=) or lower SOLLOL_GATEWAY_CONNECTIONS",
        file=sys.stderr,
    )

_several = _cfg.gateway_workers > 1 or _cfg.metrics_port
if _several and _cfg.metrics_enabled and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _owned_dir = tempfile.mkdtemp(prefix="sollol-metrics-")
    # read by prometheus_client in every worker, which inherits the master's environment
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _owned_dir


def when_ready(server: Any) -> None:
    """Serve the summed metrics on metrics_port from the master (one port for all workers)."""
    if not (_cfg.metrics_port and _cfg.metrics_enabled):
        return
    from prometheus_client import start_http_server

    from sollol.api.metrics_server import scrape_registry_for_master
    from sollol.state.keys import auth_required

    # prometheus_client's server asks for no key: with keys required it stays on loopback
    # (scrape the gateway's own /metrics with SOLLOL_METRICS_TOKEN from elsewhere)
    addr = "127.0.0.1" if auth_required(_cfg) else _cfg.bind
    start_http_server(_cfg.metrics_port, addr=addr, registry=scrape_registry_for_master(_cfg))
    server.log.info("metrics on http://%s:%d/metrics", addr, _cfg.metrics_port)


def child_exit(server: Any, worker: Any) -> None:
    """A dead worker's live gauges must not be summed any more (prometheus_client's rule)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    if _owned_dir:
        shutil.rmtree(_owned_dir, ignore_errors=True)
