"""What a handler needs from the aiohttp request: its node, when it started, how it ended."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from sollol.sim.node import SimNode

__all__ = ["FAILED", "NODE_KEY", "STARTED", "node_of", "started_of"]

NODE_KEY = web.AppKey("sim_node", SimNode)


def _request_key(name: str, kind: type) -> Any:
    """A typed request-storage key (aiohttp ≥ 3.12 warns on plain strings), else the string."""
    factory = getattr(web, "RequestKey", None)
    return factory(name, kind) if factory is not None else name


STARTED = _request_key("sim_started", float)  # time.monotonic() when the handler started
FAILED = _request_key("sim_failed", bool)  # the response was not a complete answer


def node_of(request: web.Request) -> SimNode:
    return request.app[NODE_KEY]


def started_of(request: web.Request) -> float:
    """Handler start (set by the server's middleware), for total_duration and load_duration."""
    started = request.get(STARTED)
    return started if isinstance(started, float) else time.monotonic()
