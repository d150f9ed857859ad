"""API keys at the gateway's door: who may call what, within which limits.

Whether keys are required is ``SOLLOL_AUTH``: ``auto`` (the default) requires them when the
gateway binds a non-loopback address and not on 127.0.0.1/::1/localhost; ``on`` always; ``off``
never (on a non-loopback bind this logs a warning at every start). A client presents its key as
``Authorization: Bearer <key>`` (Ollama, OpenAI and LangChain clients) or ``x-api-key: <key>``
(Anthropic's). A browser may open the dashboard once as ``/dashboard?api_key=<key>``: the key moves
into an HttpOnly cookie and the address bar is cleaned.

Paths, deny by default:

    public   /, /api/health (status only), /docs, /openapi.json
    admin    the fleet's views (/dashboard, /api/fleet, /api/decisions, /api/alerts, /api/stats,
             /api/dashboard, /api/route, /api/batch-status), model management (/api/pull, push,
             create, copy, delete, blobs), key management; /metrics (or the metrics token)
    any key  everything else: inference, listings, batch jobs

A key with a model list gets 403 for other models; a key's ``max_priority`` caps the priority it
asks for (the cap shows in ``_sollol_routing``); its rpm/tpm/concurrency limits answer 429 with
``Retry-After`` (:mod:`sollol.state.limits`).
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, g, redirect, request
from werkzeug.wrappers import Response as BaseResponse

from sollol.api.errors import Forbidden, RateLimited, Unauthorized
from sollol.config import SOLLOLConfig
from sollol.state.keys import ApiKey, KeyStore, auth_required, is_loopback
from sollol.state.limits import Limiter

__all__ = ["Tenant", "auth_required", "current_tenant", "install_auth", "note_usage"]

log = logging.getLogger("sollol.gateway")
COOKIE = "sollol_key"
PUBLIC = frozenset({"/", "/api/health", "/openapi.json", "/docs"})
ADMIN_EXACT = frozenset(
    {
        "/dashboard",
        "/api/fleet",
        "/api/decisions",
        "/api/alerts",
        "/api/stats",
        "/api/dashboard",
        "/api/route",
        "/api/batch-status",
        "/api/pull",
        "/api/push",
        "/api/create",
        "/api/copy",
        "/api/delete",
        "/api/models",
        "/metrics",
    }
)
ADMIN_PREFIXES = ("/api/blobs/", "/api/keys")
LIMITED_PREFIXES = ("/api/chat", "/api/generate", "/api/embed", "/api/embeddings", "/v1/")


@dataclass
class Tenant:
    """Who is calling this request (set on ``flask.g``), and what it used."""

    key: ApiKey
    request_id: str
    limited: bool = False  # a lease and an rpm token were taken
    tokens: int = 0  # prompt + generated tokens, as Ollama counted them
    priority_cap: int | None = None  # the priority asked for, when the key's cap lowered it
    extra: dict[str, Any] = field(default_factory=dict)


def current_tenant() -> Tenant | None:
    """The calling key of this request, when keys are on."""
    tenant: Tenant | None = g.get("sollol_tenant")
    return tenant


def note_usage(tokens: int) -> None:
    """The request's answer counted ``tokens`` (prompt + generated): charged to the key's tpm."""
    tenant = current_tenant()
    if tenant is not None:
        tenant.tokens += max(0, int(tokens))


def _presented_key() -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (request.headers.get("x-api-key") or request.cookies.get(COOKIE) or "").strip()


def _is_admin_path(path: str) -> bool:
    return path in ADMIN_EXACT or path.startswith(ADMIN_PREFIXES)


def _is_public(path: str) -> bool:
    return path in PUBLIC or path.startswith("/docs/")


class Gatekeeper:
    """The before/after-request hooks of one gateway app."""

    def __init__(self, cfg: SOLLOLConfig, redis: Any) -> None:
        self.cfg = cfg
        self.store = KeyStore.for_config(redis, cfg)
        self.limiter = Limiter(redis, cfg)

    def before(self) -> BaseResponse | None:
        path = request.path
        if _is_public(path):
            return None
        if path == "/dashboard" and request.args.get("api_key"):
            resp = redirect("/dashboard", code=303)
            resp.set_cookie(COOKIE, request.args["api_key"], httponly=True, samesite="Strict")
            return resp
        if path == "/metrics" and self._metrics_token_ok():
            return None
        key = self._authenticate()
        if _is_admin_path(path) and not key.admin:
            raise Forbidden(f"API key '{key.name}' is not an admin key: {path} needs one")
        self._check_model(key)
        tenant = Tenant(key, request_id=f"{time.time_ns():x}-{id(request):x}")
        g.sollol_tenant = tenant
        if request.method == "POST" and path.startswith(LIMITED_PREFIXES):
            admission = self.limiter.admit(key, tenant.request_id)
            if not admission.admitted:
                raise RateLimited(admission.message(key), admission.retry_after_s)
            tenant.limited = self.limiter.limited(key)
        return None

    def _is_admin_caller(self) -> bool:
        secret = _presented_key()
        key = self.store.lookup(secret) if secret else None
        return key is not None and key.admin and not key.problem(time.time())

    def _metrics_token_ok(self) -> bool:
        token = self.cfg.metrics_token
        presented = request.headers.get("Authorization", "").partition(" ")[2].strip()
        return bool(token) and hmac.compare_digest(presented.encode(), token.encode())

    def _authenticate(self) -> ApiKey:
        secret = _presented_key()
        if not secret:
            raise Unauthorized(
                "missing API key: send 'Authorization: Bearer <key>' (or 'x-api-key: <key>')"
            )
        key = self.store.lookup(secret)
        if key is None:
            raise Unauthorized("invalid API key")
        problem = key.problem(time.time())
        if problem:
            raise Unauthorized(problem)
        return key

    def _check_model(self, key: ApiKey) -> None:
        if not key.models or request.method != "POST":
            return
        body = request.get_json(silent=True)
        model = body.get("model") or body.get("name") if isinstance(body, dict) else None
        if isinstance(model, str) and model and not key.allows_model(model):
            raise Forbidden(f"API key '{key.name}' may not use model '{model}'")

    def after(self, response: Response) -> Response:
        if request.path == "/api/health" and not self._is_admin_caller():
            _status_only(response)  # a load balancer's probe learns up or down, not the fleet
        tenant = current_tenant()
        if tenant is not None and tenant.limited:
            key, limiter = tenant.key, self.limiter
            # streamed answers end after this hook: release the lease when the response closes
            response.call_on_close(lambda: _release(limiter, key, tenant))
        return response


def _status_only(response: Response) -> None:
    body = response.get_json(silent=True)
    if isinstance(body, dict):
        response.set_data(json.dumps({"status": body.get("status", "unknown")}))


def _release(limiter: Limiter, key: ApiKey, tenant: Tenant) -> None:
    try:
        limiter.finish(key, tenant.request_id, tenant.tokens)
    except Exception:  # a lease expires by itself; never fail a finished response for it
        log.warning("could not release the limits of key %r", key.name, exc_info=True)


def install_auth(app: Flask, cfg: SOLLOLConfig, redis: Any) -> None:
    """Require keys on ``app`` when :func:`auth_required`; log which way it is, either way."""
    if not auth_required(cfg):
        if not is_loopback(cfg.bind):
            log.warning(
                "SOLLOL gateway on %s with API keys DISABLED (SOLLOL_AUTH=off): anyone who can "
                "reach it can use and inspect the fleet",
                cfg.bind,
            )
        else:
            log.info("API keys off (loopback bind %s); SOLLOL_AUTH=on requires them", cfg.bind)
        return
    gate = Gatekeeper(cfg, redis)
    app.extensions["sollol_auth"] = gate
    app.before_request(gate.before)
    app.after_request(gate.after)
    log.info("API keys required (SOLLOL_AUTH=%s, bind %s)", cfg.auth, cfg.bind)
