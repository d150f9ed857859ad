"""What a handler needs from the aiohttp request: its node, when it started, how it ended."""

from __future__ import annotations

import time

from aiohttp import web

from sollol.sim.node import SimNode

__all__ = ["FAILED", "NODE_KEY", "STARTED", "node_of", "started_of"]

NODE_KEY = web.AppKey("sim_node", SimNode)
STARTED = "sim_started"  # request key: time.monotonic() when the handler started
FAILED = "sim_failed"  # request key: the response was not a complete answer (mid-stream failure)


def node_of(request: web.Request) -> SimNode:
    return request.app[NODE_KEY]


def started_of(request: web.Request) -> float:
    """Handler start (set by the server's middleware), for total_duration and load_duration."""
    started = request.get(STARTED)
    return started if isinstance(started, float) else time.monotonic()
