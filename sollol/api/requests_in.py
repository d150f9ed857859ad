"""Reading what the client sent: JSON body (whatever the Content-Type, like Ollama), priority."""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, request

from sollol.api.errors import BadRequest, MissingBody
from sollol.api.schemas import ValidationError, first_error, native_body, validate_body

__all__ = ["json_body", "priority", "validated"]

PRIORITY_HEADER = "X-SOLLOL-Priority"


def json_body() -> Any:
    """The request body parsed as JSON; Ollama ignores Content-Type, so do we."""
    raw = request.get_data(cache=True)
    if not raw or not raw.strip():
        raise MissingBody()
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"invalid JSON in request body: {exc}") from None


def validated(endpoint: str, body: Any) -> dict[str, Any]:
    """``body`` checked for ``endpoint`` (400 otherwise); returns the native body to forward:
    null options dropped, the original SOLLOL's ``text`` on /api/embed read as ``input``."""
    try:
        validate_body(endpoint, body)
    except ValidationError as exc:
        raise BadRequest(first_error(exc.messages)) from None
    return native_body(endpoint, body)


def priority() -> int:
    """Priority 1..10 from ``?priority=`` or the ``X-SOLLOL-Priority`` header; default from config."""
    raw = request.args.get("priority")
    if raw is None:
        raw = request.headers.get(PRIORITY_HEADER)
    if raw is None or raw == "":
        return _capped(int(current_app.config["SOLLOL"].default_priority))
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= 10 or str(value) != raw.strip():
        raise BadRequest(
            f"invalid priority {raw!r}: use an integer from 1 (lowest) to 10 "
            "(critical) in ?priority= or the X-SOLLOL-Priority header"
        )
    return _capped(value)


def _capped(value: int) -> int:
    """The priority an API key may have: at most its ``max_priority`` (the cap is recorded)."""
    from sollol.api.auth import current_tenant

    tenant = current_tenant()
    if tenant is None or value <= tenant.key.max_priority:
        return value
    tenant.priority_cap = value  # what was asked, reported as priority_capped_from
    return tenant.key.max_priority
