"""Gateway errors and the one place that maps them to HTTP statuses and bodies.

    GatewayError                    status  body (Ollama)                  OpenAI type
     ├── BadRequest                  400     {"error": msg}                 invalid_request_error
     │    └── MissingBody            400     "missing request body"
     ├── ModelNotFound               404     per-endpoint Ollama wording    not_found_error
     ├── NotImplementedByGateway     501                                    api_error
     ├── FleetBusy                   503     Ollama's busy message, Retry-After
     ├── NoHealthyHost               503
     ├── UpstreamError               status from Ollama (4xx/5xx)
     ├── GatewayTimeout              504
     ├── BrokerUnavailable           503     Redis unreachable, Retry-After
     ├── Unauthorized                401     missing, unknown, revoked or expired API key
     ├── Forbidden                   403     model or endpoint not allowed for the key
     ├── RateLimited                 429     a key's rpm / tpm / concurrency, Retry-After
     ├── BatchJobNotFound            404     batch job unknown or expired
     ├── PayloadTooLarge             413     batch upload beyond its limits
     └── TooManyJobs                 429     too many unfinished batch jobs, Retry-After

Views raise these; :func:`register_error_handlers` renders them in the protocol the client speaks,
told by the path: Ollama ``{"error": "..."}`` (``/api/*``), OpenAI
``{"error": {"message", "type", "param", "code"}}`` (``/v1/*``) or Anthropic
``{"type": "error", "error": {"type", "message"}}`` (``/v1/messages``). A Redis connection error
that escapes a view (the gateway's Redis is away, e.g. it was never reachable since start) is a
:class:`BrokerUnavailable` too: 503 with ``Retry-After``, one log line, no traceback.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Literal

import redis as redis_lib
from flask import Flask, Response, request
from kombu.exceptions import OperationalError
from werkzeug.exceptions import HTTPException

from sollol.router import MissingCapability

__all__ = [
    "BUSY_MESSAGE",
    "BadRequest",
    "BatchJobNotFound",
    "BrokerUnavailable",
    "ClientGone",
    "FleetBusy",
    "Forbidden",
    "GatewayError",
    "GatewayTimeout",
    "MissingBody",
    "ModelNotFound",
    "NoHealthyHost",
    "NotImplementedByGateway",
    "PayloadTooLarge",
    "Protocol",
    "RateLimited",
    "TooManyJobs",
    "Unauthorized",
    "UpstreamError",
    "error_body",
    "protocol_error_body",
    "protocol_of",
    "register_error_handlers",
]

Protocol = Literal["ollama", "openai", "anthropic"]
log = logging.getLogger("sollol.gateway")

BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
_OPENAI_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
# as Ollama's Anthropic layer names them (anthropic.NewError): by status, api_error otherwise
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
    529: "overloaded_error",
}


class GatewayError(Exception):
    """Base of every error the gateway answers; ``status`` is the HTTP status."""

    status = 500
    retry_after_s: int | None = None

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class ClientGone(GatewayError):
    """The client closed its connection before the answer started (nginx's 499: nobody reads it)."""

    status = 499


class BadRequest(GatewayError):
    status = 400


class MissingBody(BadRequest):
    def __init__(self) -> None:
        super().__init__("missing request body")


class ModelNotFound(GatewayError):
    status = 404


class NotImplementedByGateway(GatewayError):
    status = 501


class FleetBusy(GatewayError):
    status = 503
    retry_after_s = 2

    def __init__(self, message: str = BUSY_MESSAGE) -> None:
        super().__init__(message)


class NoHealthyHost(GatewayError):
    status = 503
    retry_after_s = 5


class UpstreamError(GatewayError):
    """Ollama's own error, passed through with its status."""


class GatewayTimeout(GatewayError):
    status = 504


class BrokerUnavailable(GatewayError):
    status = 503
    retry_after_s = 2


class Unauthorized(GatewayError):
    """No API key, or one nobody has (unknown, revoked, expired)."""

    status = 401


class Forbidden(GatewayError):
    """A valid key asking for what it may not (a model, an admin view)."""

    status = 403


class RateLimited(GatewayError):
    """A key beyond its requests/tokens per minute or concurrency: retry after a while."""

    status = 429

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BatchJobNotFound(GatewayError):
    """A batch embedding job that does not exist (or expired)."""

    status = 404


class PayloadTooLarge(GatewayError):
    """An upload beyond a configured limit (batch docs or bytes)."""

    status = 413


class TooManyJobs(GatewayError):
    """Too many unfinished batch jobs: retry later."""

    status = 429
    retry_after_s = 10


def protocol_of(path: str) -> Protocol:
    """The protocol a request path belongs to, which decides the shape of its errors."""
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return "anthropic"
    return "openai" if path.startswith("/v1/") else "ollama"


def is_openai_request() -> bool:
    return protocol_of(request.path) != "ollama"


def protocol_error_body(message: str, status: int, protocol: Protocol) -> dict[str, Any]:
    """The error object of ``protocol`` for ``message`` at HTTP ``status``."""
    if protocol == "anthropic":
        kind = _ANTHROPIC_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
    if protocol == "openai":
        return {
            "error": {
                "message": message,
                "type": _OPENAI_TYPES.get(status, "api_error"),
                "param": None,
                "code": None,
            }
        }
    return {"error": message}


def error_body(message: str, status: int, openai: bool) -> dict[str, Any]:
    """Ollama's (``openai=False``) or OpenAI's error object."""
    return protocol_error_body(message, status, "openai" if openai else "ollama")


def _render(message: str, status: int, retry_after_s: int | None = None) -> Response:
    body = protocol_error_body(message, status, protocol_of(request.path))
    resp = Response(
        json.dumps(body, separators=(",", ":")),
        status=status,
        content_type="application/json; charset=utf-8",
    )
    if retry_after_s:
        resp.headers["Retry-After"] = str(retry_after_s)
    return resp


def register_error_handlers(app: Flask) -> None:
    """Render every error in the shape of the protocol the client speaks."""

    @app.errorhandler(GatewayError)
    def _gateway(err: GatewayError) -> Response:
        return _render(err.message, err.status, err.retry_after_s)

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException) -> Response | HTTPException:
        status = err.code or 500
        if status in (404, 405) and not is_openai_request():
            # Ollama (gin) answers unknown routes and wrong methods in plain text
            text = "404 page not found" if status == 404 else "405 method not allowed"
            resp = Response(text, status=status, content_type="text/plain")
            if status == 405 and err.get_response().headers.get("Allow"):
                resp.headers["Allow"] = err.get_response().headers["Allow"]
            return resp
        if status == 413:
            return _render("request body too large", 413)
        return _render(err.description or err.name, status)

    @app.errorhandler(MissingCapability)
    def _incapable(err: MissingCapability) -> Response:
        return _render(err.message, 400)

    @app.errorhandler(redis_lib.ConnectionError)
    @app.errorhandler(redis_lib.TimeoutError)
    @app.errorhandler(OperationalError)
    def _broker_away(err: Exception) -> Response:
        log.warning("Redis unreachable on %s %s: %s", request.method, request.path, err)
        away = BrokerUnavailable(f"SOLLOL's Redis is unreachable: {err}")
        return _render(away.message, away.status, away.retry_after_s)

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _render(f"internal gateway error: {type(err).__name__}", 500)
