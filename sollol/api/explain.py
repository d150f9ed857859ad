"""``POST /api/route``: where a request would go and why, without sending it.

The body is a native request (chat, generate, embed or embeddings); ``?endpoint=`` names it
(default: ``chat`` when the body has ``messages``, ``generate`` with ``prompt``, else ``embed``)
and ``?priority=`` / ``X-SOLLOL-Priority`` set its priority as for a real request. The answer
is the router's Decision on the gateway's current fleet snapshot; nothing is published.
"""

from __future__ import annotations

import random
from typing import Any

from flask import Blueprint, Response, request

from sollol.api.call import not_found_message
from sollol.api.errors import BadRequest, ModelNotFound, NoHealthyHost
from sollol.api.requests_in import json_body, priority, validated
from sollol.api.responses import json_response
from sollol.api.services import services
from sollol.router import Decision, NoHostAvailable, Router, analyse_request

__all__ = ["bp", "decision_json", "guess_endpoint"]

bp = Blueprint("explain", __name__)

ENDPOINTS = ("chat", "generate", "embed", "embeddings")


def guess_endpoint(body: dict[str, Any]) -> str:
    """The native endpoint a body is written for."""
    if "messages" in body:
        return "chat"
    return "generate" if "prompt" in body else "embed"


def decision_json(d: Decision) -> dict[str, Any]:
    """A Decision as JSON: host, score, strategy, predicted_ms, factors, reasoning, alternatives."""
    return {
        "host": d.host,
        "score": round(d.score, 4),
        "strategy": d.strategy,
        "predicted_ms": round(d.predicted_ms, 1),
        "factors": {k: round(v, 4) for k, v in d.factors.items()},
        "reasoning": d.reasoning,
        "alternatives": [
            {"host": a.host, "score": round(a.score, 4), "predicted_ms": round(a.predicted_ms, 1)}
            for a in d.alternatives
        ],
    }


@bp.post("/api/route")
def explain() -> Response:
    """The routing decision for the request in the body, with the request's profile."""
    body = json_body()
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    endpoint = request.args.get("endpoint") or guess_endpoint(body)
    if endpoint not in ENDPOINTS:
        raise BadRequest(f"endpoint must be one of {', '.join(ENDPOINTS)}, got {endpoint!r}")
    native = validated(endpoint, body)
    label = str(native.get("model") or "")
    if not label.strip():  # as the real endpoints answer (Ollama's wording differs per endpoint)
        if endpoint in ("generate", "embed"):
            raise ModelNotFound("model '' not found")
        raise BadRequest("model is required")
    svc = services()
    profile = analyse_request(endpoint, native, priority())
    # a router of its own leaves the real one's turn alone; the same tuning (time scale)
    router = Router(svc.router.strategy, rng=random.Random(), tuning=svc.router.tuning)
    snapshot = svc.fleet.snapshot()
    try:
        decision = router.route(profile, snapshot)
    except NoHostAvailable as exc:
        if not any(profile.model in h.installed for h in snapshot.hosts):
            raise ModelNotFound(not_found_message(endpoint, label)) from None
        raise NoHealthyHost(str(exc)) from None
    return json_response(
        {
            "endpoint": endpoint,
            "profile": {
                "model": profile.model,
                "task_type": profile.task_type,
                "complexity": profile.complexity,
                "priority": profile.priority,
                "prompt_tokens": profile.prompt_tokens,
                "output_tokens": profile.output_tokens,
                "needs_gpu": profile.needs_gpu,
            },
            "decision": decision_json(decision),
        }
    )
