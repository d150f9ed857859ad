"""The circuit breaker's transitions, as Lua scripts on a real Redis (shared by every gateway)."""

from __future__ import annotations

import pytest

from sollol.config import load_config
from sollol.state.circuit import effective_state, read_circuit, record_failure, record_success

pytestmark = pytest.mark.integration
CFG = load_config(
    env={}, circuit_failures_to_open=3, circuit_open_s=10.0, circuit_successes_to_close=2
)


def test_consecutive_failures_open_it(redis_client):
    assert record_failure(redis_client, CFG, "h", "boom", 100.0) == "closed"
    assert record_failure(redis_client, CFG, "h", "boom", 101.0) == "closed"
    assert record_failure(redis_client, CFG, "h", "boom", 102.0) == "open"
    assert read_circuit(redis_client, CFG, "h")["reason"] == "boom"


def test_a_success_between_failures_resets_the_count(redis_client):
    record_failure(redis_client, CFG, "h", "x", 100.0)
    record_failure(redis_client, CFG, "h", "x", 101.0)
    assert record_success(redis_client, CFG, "h", 102.0) == "closed"
    assert record_failure(redis_client, CFG, "h", "x", 103.0) == "closed"


def test_a_health_probe_does_not_reset_a_closed_circuit(redis_client):
    """Inference failing while /api/version answers must still open the circuit."""
    record_failure(redis_client, CFG, "h", "x", 100.0)
    record_failure(redis_client, CFG, "h", "x", 101.0)
    record_success(redis_client, CFG, "h", 102.0, probe=True)
    assert record_failure(redis_client, CFG, "h", "x", 103.0) == "open"


def test_open_becomes_half_open_after_the_cool_down_and_closes_after_successes(redis_client):
    for t in (100.0, 101.0, 102.0):
        record_failure(redis_client, CFG, "h", "x", t)
    circuit = read_circuit(redis_client, CFG, "h")
    assert effective_state(circuit, 105.0, CFG.circuit_open_s) == "open"
    assert effective_state(circuit, 112.5, CFG.circuit_open_s) == "half_open"
    assert record_success(redis_client, CFG, "h", 105.0) == "open"  # too early: still cooling
    assert record_success(redis_client, CFG, "h", 113.0, probe=True) == "half_open"
    assert record_success(redis_client, CFG, "h", 114.0) == "closed"


def test_a_failure_while_half_open_reopens_it(redis_client):
    for t in (100.0, 101.0, 102.0):
        record_failure(redis_client, CFG, "h", "x", t)
    record_success(redis_client, CFG, "h", 113.0)
    assert record_failure(redis_client, CFG, "h", "again", 114.0) == "open"
    assert effective_state(read_circuit(redis_client, CFG, "h"), 120.0, 10.0) == "open"
