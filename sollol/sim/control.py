"""The fleet's control server (``sollol sim --control-port``): fault injection and observation from
another process, reachable even when a node is down and its own port is closed.

    GET  /nodes                    {"nodes": [state, ...]}
    GET  /nodes/<name>             one node's state (as its /_sim/state)
    POST /nodes/<name>/fault       {"mode": "down", "duration_s": 5}  → the node's state
    POST /nodes/<name>/recover     → the node's state
    GET  /requests                 request ids across the fleet, with duplicates
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

from sollol.sim.faults import parse_fault_request
from sollol.sim.parsing import read_body
from sollol.sim.protocol import RequestError, error_response, json_response, text_response

if TYPE_CHECKING:
    from sollol.sim.fleet import AsyncSimFleet

__all__ = ["build_control_app"]

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_control_app(fleet: AsyncSimFleet) -> web.Application:
    """The control application for ``fleet`` (JSON in, JSON out; errors as ``{"error": ...}``)."""

    async def nodes(request: web.Request) -> web.Response:
        return json_response({"nodes": [fleet.state(name) for name in fleet.servers]})

    async def node(request: web.Request) -> web.Response:
        return json_response(fleet.state(_name(request)))

    async def fault(request: web.Request) -> web.Response:
        name = _name(request)
        mode, duration = parse_fault_request(await read_body(request, "FaultRequest"))
        await fleet.set_fault(name, mode, duration)
        return json_response(fleet.state(name))

    async def recover(request: web.Request) -> web.Response:
        name = _name(request)
        await fleet.recover(name)
        return json_response(fleet.state(name))

    async def requests(request: web.Request) -> web.Response:
        return json_response(fleet.requests())

    def _name(request: web.Request) -> str:
        name = request.match_info["name"]
        if name not in fleet.servers:
            raise RequestError(404, f"no node named {name!r}")
        return name

    app = web.Application(middlewares=[_errors])
    app.router.add_get("/nodes", nodes)
    app.router.add_get("/nodes/{name}", node)
    app.router.add_post("/nodes/{name}/fault", fault)
    app.router.add_post("/nodes/{name}/recover", recover)
    app.router.add_get("/requests", requests)
    return app


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RequestError as exc:
        return error_response(exc.status, exc.message)
    except web.HTTPNotFound:
        return text_response(404, "404 page not found")
    except web.HTTPMethodNotAllowed:
        return text_response(405, "405 method not allowed")
