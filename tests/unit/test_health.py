"""Host health rules (sollol.state.health.assess), one row per rule and why."""

from __future__ import annotations

import pytest

from sollol.config import load_config
from sollol.state.health import assess

CFG = load_config(env={}, health_check_interval_s=1.0)  # patience: 3 × 1 s + 2 = 5 s
NOW = 10_000.0
ANSWERED = {"sent_at": str(NOW - 1), "checked_at": str(NOW - 0.9), "ok": "1", "latency_ms": "3"}
OVERDUE = {"sent_at": str(NOW - 6), "checked_at": str(NOW - 20), "ok": "1", "latency_ms": "3"}


def _assess(check, running=0, alive=True, ollama_ok=True, circuit="closed"):
    return assess(
        alive, ollama_ok, "connection refused", NOW - 1, running, circuit, "5xx", check, NOW, CFG
    )


@pytest.mark.parametrize(
    ("why", "kwargs", "state", "reason_part"),
    [
        ("answered check, nothing wrong", {"check": ANSWERED}, "healthy", ""),
        (
            "no heartbeat: the worker or its box is gone",
            {"check": ANSWERED, "alive": False},
            "down",
            "no heartbeat",
        ),
        (
            "heartbeat says Ollama does not answer",
            {"check": ANSWERED, "ollama_ok": False},
            "down",
            "Ollama unreachable",
        ),
        (
            "breaker open after failures",
            {"check": ANSWERED, "circuit": "open"},
            "down",
            "circuit open",
        ),
        (
            "check unanswered for 6 s, nothing running, nothing begun: worker not consuming",
            {"check": OVERDUE},
            "down",
            "not consuming",
        ),
        (
            "check unanswered but the worker is running requests: busy, not stuck",
            {"check": OVERDUE, "running": 2},
            "healthy",
            "",
        ),
        (
            "check unanswered (stuck behind top-priority backlog) but a request began 1 s ago",
            {"check": {**OVERDUE, "began_at": str(NOW - 1)}},
            "healthy",
            "",
        ),
        (
            "check unanswered and the last request began 30 s ago",
            {"check": {**OVERDUE, "began_at": str(NOW - 30)}},
            "down",
            "not consuming",
        ),
        (
            "check pending for only 2 s",
            {"check": {**OVERDUE, "sent_at": str(NOW - 2)}},
            "healthy",
            "",
        ),
        (
            "breaker half-open: probing",
            {"check": ANSWERED, "circuit": "half_open"},
            "degraded",
            "half-open",
        ),
        (
            "last check failed",
            {"check": {**ANSWERED, "ok": "0", "error": "boom"}},
            "degraded",
            "boom",
        ),
        ("last check slow", {"check": {**ANSWERED, "latency_ms": "2500"}}, "degraded", "slow"),
    ],
)
def test_health_rules(why, kwargs, state, reason_part):
    got_state, reason = _assess(**kwargs)
    assert got_state == state, why
    assert reason_part in reason, why
    assert (reason == "") == (state == "healthy"), why
