"""Relaying a call's answer from its Redis stream, and failing over while nothing was sent.

The mixin half of :class:`sollol.api.dispatch.Dispatcher`: :meth:`Relay.events` tails the
request's stream and yields the answer's lines. Until the first line reaches the client, any host
failure (error, busy, unreachable, hung, dead, model missing) makes the call move to another host,
up to ``MAX_ATTEMPTS`` attempts with exponential backoff and jitter; after it, a failure ends the
answer with an error. A Redis restart is survived by resubmitting what Redis lost.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import redis as redis_lib

from sollol.api.call import MAX_ATTEMPTS, Call, not_found_message
from sollol.api.errors import (
    BrokerUnavailable,
    GatewayError,
    GatewayTimeout,
    ModelNotFound,
    NoHealthyHost,
    UpstreamError,
)
from sollol.api.fleet_cache import FleetCache
from sollol.config import SOLLOLConfig
from sollol.router import Decision
from sollol.state import StreamReader
from sollol.state.circuit import record_failure

__all__ = ["BLOCK_MS", "Relay"]

log = logging.getLogger("sollol.gateway")
BLOCK_MS = 500


class Relay:
    """Stream tailing and failover; the Dispatcher provides routing and publishing."""

    cfg: SOLLOLConfig
    redis: Any
    fleet: FleetCache
    rng: random.Random

    def submit(self, call: Call) -> Decision:  # pragma: no cover - provided by Dispatcher
        raise NotImplementedError

    # --- relaying -----------------------------------------------------------------------------
    def events(self, call: Call) -> Iterator[tuple[str, bytes]]:
        """Yield ("chunk", line) and finally ("final", line) of the current attempt's answer.

        Raises a GatewayError when the call cannot be answered (before or after content began).
        """
        reader = StreamReader(self.redis, self.cfg.key("stream", call.request_id))
        last_event = time.monotonic()
        deadline = call.t0 + self.cfg.request_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayTimeout(f"no answer within {self.cfg.request_timeout_s:.0f} s")
            try:
                batch = reader.read(block_ms=int(min(BLOCK_MS, remaining * 1000)))
            except redis_lib.RedisError:
                reader = self._survive_broker_loss(call, reader)
                last_event = time.monotonic()
                continue
            if not batch:
                self._check_stalled(call, last_event)
                continue
            last_event = time.monotonic()
            for ev in batch:
                if ev.attempt != call.attempt:
                    continue  # output of an abandoned attempt
                out = self._handle(call, ev.kind, ev.data)
                if out is None:
                    continue
                yield out
                if out[0] == "final":
                    call.finished = True
                    return

    def _handle(self, call: Call, kind: str, data: bytes) -> tuple[str, bytes] | None:
        if kind == "start":
            if call.started_at is not None and call.content_sent:
                # the same attempt started again: its worker died and the broker redelivered it.
                # Replaying would send the client text twice; end with a clear error instead.
                raise UpstreamError(
                    "the worker running this request was lost mid-answer and the "
                    "request restarted; the partial answer above is incomplete",
                    502,
                )
            now = time.monotonic()
            if call.started_at is None:
                call.queue_wait_ms = (now - call.dispatched_at) * 1000
            call.started_at = now
            info = json.loads(data)
            call.host = info.get("host", call.host)
            return None
        if kind == "chunk":
            call.content_sent = True
            return ("chunk", data)
        if kind == "final":
            return ("final", data)
        if kind == "cancelled":
            raise GatewayError("request cancelled", 499)
        if kind == "error":
            self._on_error(call, json.loads(data))
        return None

    def _on_error(self, call: Call, info: dict[str, Any]) -> None:
        """A worker reported a failure of the current attempt: fail over or give up."""
        status = int(info.get("status", 502))
        message = str(info.get("error", "upstream error"))
        reason = info.get("reason", "host")
        if reason == "model_missing":
            self.fleet.refresh(quiet=True)
            call.last_error = ModelNotFound(not_found_message(call.endpoint, call.model_label))
        else:
            call.last_error = UpstreamError(message, status)
        if reason in ("host", "upstream"):
            self._host_failed(call.host, f"{status} {message}")
        retryable = bool(info.get("retryable")) and reason != "client"
        if not retryable or call.content_sent:
            raise call.last_error
        self._fail_over(call, f"{reason}: {message}")

    def _host_failed(self, host: str, why: str) -> None:
        """Feed the host's circuit breaker (shared with every gateway replica through Redis)."""
        try:
            state = record_failure(self.redis, self.cfg, host, why, time.time())
        except redis_lib.RedisError:
            return
        if state == "open":
            log.warning("circuit of host %s is open: %s", host, why)
            self.fleet.refresh(quiet=True)

    def _fail_over(self, call: Call, why: str) -> None:
        if call.attempt >= MAX_ATTEMPTS:
            raise call.last_error or NoHealthyHost(f"gave up after {call.attempt} attempts: {why}")
        log.info(
            "request %s: attempt %d on %s failed (%s); failing over",
            call.request_id,
            call.attempt,
            call.host,
            why,
        )
        self._backoff(call.attempt)
        self.submit(call)

    def _backoff(self, attempt: int) -> None:
        """Exponential backoff with full jitter: up to 50 ms, 100 ms, 200 ms …"""
        time.sleep(self.rng.uniform(0, 0.05 * 2 ** (attempt - 1)))

    def _check_stalled(self, call: Call, last_event: float) -> None:
        """No output for a while: a hung host (started) or a dead host (still queued)."""
        now = time.monotonic()
        if call.started_at is None:
            if now - call.dispatched_at > self.cfg.first_chunk_timeout_s:
                self._give_up_or_move(call, "no worker started the request in time")
            elif self._host_down(call.host) and now - call.dispatched_at > self._down_grace_s():
                # beat moves waiting messages off dead hosts first; this is the backstop
                self._give_up_or_move(call, f"host {call.host} went down")
        elif now - last_event > self.cfg.idle_chunk_timeout_s:
            self._give_up_or_move(call, f"host {call.host} stopped answering")
        elif self._host_down(call.host) and now - last_event > self._down_grace_s():
            self._give_up_or_move(call, f"host {call.host} went down mid-request")

    def _give_up_or_move(self, call: Call, why: str) -> None:
        self.cancel_attempt(call)
        self._host_failed(call.host, why)
        call.last_error = GatewayTimeout(why)
        if call.content_sent:
            raise call.last_error
        self._fail_over(call, why)

    def cancel_attempt(self, call: Call) -> None:
        with contextlib.suppress(redis_lib.RedisError):
            self.redis.set(
                self.cfg.key("cancel", call.request_id), call.attempt, ex=self.cfg.stream_ttl_s
            )

    def _down_grace_s(self) -> float:
        return 2 * self.cfg.reroute_interval_s + self.cfg.heartbeat_ttl_s

    def _host_down(self, host: str) -> bool:
        state = self.fleet.snapshot().host(host)
        return state is None or state.health == "down"

    def _survive_broker_loss(self, call: Call, reader: StreamReader) -> StreamReader:
        """Redis went away mid-call: wait for it, then resubmit if it lost the call's state."""
        deadline = time.monotonic() + self.cfg.first_chunk_timeout_s
        alive = self._wait_for_redis(reader.key, deadline)
        if alive or call.dispatched_at == 0:
            return reader
        if call.content_sent:
            raise UpstreamError("SOLLOL's Redis restarted and lost this answer mid-stream", 502)
        log.warning("request %s: Redis lost its state; resubmitting", call.request_id)
        call.tried.clear()
        call.attempt = min(call.attempt, MAX_ATTEMPTS - 1)
        while True:  # hosts re-register within a heartbeat; the broker may still be starting
            self.fleet.refresh(quiet=True)
            try:
                self.submit(call)
                return StreamReader(self.redis, reader.key)
            except (BrokerUnavailable, ModelNotFound, NoHealthyHost):
                if time.monotonic() > deadline:
                    raise
                call.attempt = min(call.attempt, MAX_ATTEMPTS - 1)
                time.sleep(0.25)

    def _wait_for_redis(self, key: str, deadline: float) -> bool:
        """Block until Redis answers again; True if ``key`` survived the outage."""
        while True:
            try:
                return bool(self.redis.exists(key))
            except redis_lib.RedisError as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailable(f"SOLLOL's Redis is unreachable: {exc}") from exc
                time.sleep(0.25)
