"""The aiohttp application of one simulated node: Ollama's routes, its HTTP conventions, and the
simulator's own ``/_sim`` endpoints.

Conventions enforced here, once, for every route (docs/ollama-api.md §1): unknown path → text/plain
404 ``404 page not found``; wrong method → text/plain 405; errors → ``{"error": ...}`` (or the
OpenAI envelope under ``/v1``, Anthropic's on ``/v1/messages``); the Host-header check when
listening on loopback; OPTIONS → 204.
The middleware also keeps the request accounting (counters and the request-id ledger).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from aiohttp.typedefs import Middleware

from sollol.sim import (
    anthropic_compat,
    embedding,
    models_admin,
    native,
    openai_compat,
    responses_compat,
)
from sollol.sim.catalog import ps_body, show_body, tags_body
from sollol.sim.context import FAILED, NODE_KEY, STARTED, node_of
from sollol.sim.faults import FaultMode, parse_fault_request
from sollol.sim.ledger import REQUEST_ID_HEADER
from sollol.sim.node import SimNode
from sollol.sim.parsing import read_body
from sollol.sim.protocol import (
    OLLAMA_VERSION,
    RequestError,
    error_response,
    json_response,
    text_response,
    with_default_tag,
)

__all__ = ["INFERENCE_PATHS", "NodeControl", "build_app", "host_allowed"]

INFERENCE_PATHS = frozenset(
    {
        "/api/generate",
        "/api/chat",
        "/api/embed",
        "/api/embeddings",
        "/v1/chat/completions",
        "/v1/completions",
        "/v1/embeddings",
        "/v1/messages",
        "/v1/responses",
    }
)
_HOSTNAME = socket.gethostname().lower()
MAX_BODY_BYTES = 256 * 1024 * 1024  # Ollama sets no small limit; large embedding batches happen
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class NodeControl(Protocol):
    """What ``/_sim`` endpoints need from whoever runs the node's listener."""

    @property
    def url(self) -> str: ...

    def request_fault(self, mode: FaultMode, duration_s: float | None) -> None: ...

    def is_up(self) -> bool: ...


CONTROL_KEY = web.AppKey("sim_control", NodeControl)


def build_app(node: SimNode, control: NodeControl, check_host: bool) -> web.Application:
    """A fresh application for ``node`` (one per listening period: a crash discards it)."""
    app = web.Application(
        middlewares=[_conventions(check_host), _accounting], client_max_size=MAX_BODY_BYTES
    )
    app[NODE_KEY] = node
    app[CONTROL_KEY] = control
    r = app.router
    heads: tuple[tuple[str, Handler], ...] = (
        ("/", root),
        ("/api/version", version),
        ("/api/tags", tags),
    )
    for path, handler in heads:
        r.add_get(path, handler)  # GET and HEAD
    gets: tuple[tuple[str, Handler], ...] = (
        ("/api/ps", ps),
        ("/v1/models", openai_compat.models),
        ("/v1/models/{model:.+}", openai_compat.model),
        ("/_sim/state", sim_state),
        ("/_sim/requests", sim_requests),
    )
    posts: tuple[tuple[str, Handler], ...] = (
        ("/api/show", show),
        ("/api/generate", native.generate),
        ("/api/chat", native.chat),
        ("/api/embed", embedding.embed),
        ("/api/embeddings", embedding.embeddings),
        ("/v1/chat/completions", openai_compat.chat_completions),
        ("/v1/completions", openai_compat.completions),
        ("/v1/embeddings", openai_compat.embeddings),
        ("/v1/messages", anthropic_compat.messages),
        ("/v1/responses", responses_compat.responses),
        ("/api/pull", models_admin.pull),
        ("/api/push", models_admin.push),
        ("/api/create", models_admin.create),
        ("/api/copy", models_admin.copy),
        ("/_sim/fault", sim_fault),
    )
    for method, routes in (("GET", gets), ("POST", posts)):
        for path, handler in routes:
            r.add_route(method, path, handler)  # GET only: HEAD and others get 405
    r.add_route("DELETE", "/api/delete", models_admin.delete)
    return app


# --- middlewares ------------------------------------------------------------------------------


def _conventions(check_host: bool) -> Middleware:
    @web.middleware
    async def conventions(request: web.Request, handler: Handler) -> web.StreamResponse:
        request[STARTED] = time.monotonic()
        if check_host and not host_allowed(request.host):
            return web.Response(status=403)
        if request.method == "OPTIONS":
            return web.Response(status=204)  # CORS preflight from an allowed origin
        try:
            return await handler(request)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed, RequestError) as exc:
            return _error_response(request, exc)
        except ConnectionError as exc:
            # The client (or a simulated crash) closed the connection while we wrote: that is a
            # cancellation, which aiohttp handles quietly, not a server error.
            raise asyncio.CancelledError from exc

    return conventions


def _error_response(request: web.Request, exc: Exception) -> web.Response:
    """gin's plain-text 404/405, or the JSON error in the endpoint's protocol's shape."""
    if isinstance(exc, web.HTTPNotFound):
        return text_response(404, "404 page not found")
    if isinstance(exc, web.HTTPMethodNotAllowed):
        return text_response(405, "405 method not allowed")
    assert isinstance(exc, RequestError)
    if request.path == "/v1/messages":
        return anthropic_compat.anthropic_error(exc.status, exc.message)
    if request.path.startswith("/v1/"):
        return openai_compat.openai_error(exc.status, exc.message)
    return error_response(exc.status, exc.message)


@web.middleware
async def _accounting(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count inference requests and record ``X-SOLLOL-Request-Id`` arrivals and completions."""
    if request.method != "POST" or request.path not in INFERENCE_PATHS:
        return await handler(request)
    node = node_of(request)
    rid = request.headers.get(REQUEST_ID_HEADER)
    node.requests["received"] += 1
    node.in_flight += 1
    if rid:
        node.ledger.received(rid)
    outcome = "cancelled"
    try:
        response = await handler(request)
        outcome = "failed" if request.get(FAILED) else "completed"
        return response
    except RequestError:
        outcome = "failed"
        raise
    except (asyncio.CancelledError, ConnectionError):
        outcome = "failed" if request.get(FAILED) else "cancelled"
        raise
    finally:
        node.in_flight -= 1
        node.requests[outcome] += 1
        if rid and outcome == "completed":
            node.ledger.completed(rid)


def host_allowed(host_header: str) -> bool:
    """Ollama's Host check on loopback listeners: local/private IPs, localhost, this machine's
    name, or names ending .localhost/.local/.internal; anything else gets 403."""
    host = host_header.strip()
    if host.startswith("["):
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    host = host.lower()
    if host in ("", "localhost", _HOSTNAME):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host.endswith((".localhost", ".local", ".internal"))
    return ip.is_loopback or ip.is_private or ip.is_unspecified or ip.is_link_local


# --- simple Ollama routes ---------------------------------------------------------------------


async def root(request: web.Request) -> web.Response:
    """GET|HEAD / — the liveness probe."""
    return text_response(200, "Ollama is running")


async def version(request: web.Request) -> web.Response:
    return json_response({"version": OLLAMA_VERSION})


async def tags(request: web.Request) -> web.Response:
    return json_response(tags_body(node_of(request)))


async def ps(request: web.Request) -> web.Response:
    return json_response(ps_body(node_of(request)))


async def show(request: web.Request) -> web.Response:
    """POST /api/show: ``model`` (or the deprecated ``name``)."""
    node = node_of(request)
    body = await read_body(request, "ShowRequest")
    name = body.get("model") or body.get("name") or ""
    if not isinstance(name, str) or not name.strip():
        raise RequestError(400, "model is required")
    spec = node.find_model(name)
    if spec is None:
        raise RequestError(404, f"model '{with_default_tag(name)}' not found")
    return json_response(show_body(node, spec))


# --- the simulator's own endpoints ------------------------------------------------------------


async def sim_state(request: web.Request) -> web.Response:
    """GET /_sim/state: residency, slots, queue, counters and fault mode of this node."""
    control = request.app[CONTROL_KEY]
    return json_response({**node_of(request).snapshot(), "url": control.url, "up": control.is_up()})


async def sim_fault(request: web.Request) -> web.Response:
    """POST /_sim/fault ``{"mode", "duration_s"?}``; ``down`` takes effect just after answering."""
    mode, duration = parse_fault_request(await read_body(request, "FaultRequest"))
    request.app[CONTROL_KEY].request_fault(mode, duration)
    return json_response(
        {"name": node_of(request).spec.name, "mode": mode.value, "duration_s": duration}
    )


async def sim_requests(request: web.Request) -> web.Response:
    """GET /_sim/requests: ``{"node", "requests": {id: {"received", "completed"}}}``."""
    node = node_of(request)
    return json_response({"node": node.spec.name, "requests": node.ledger.snapshot()})
