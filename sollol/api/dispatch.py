"""From a validated request to the chunks of its answer: route, publish, tail, fail over.

A :class:`Call` is one client request. :meth:`Dispatcher.submit` asks the router for a host and
publishes the job to that host's Celery queue at the request's priority; :meth:`Dispatcher.events`
tails the request's Redis stream and yields the answer's lines. Until the first line reaches the
client, any host failure (error, busy, unreachable, hung, model missing) makes the call move to
another host, up to ``MAX_ATTEMPTS`` attempts with exponential backoff and jitter; after it, a
failure ends the answer with an error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import redis as redis_lib
from kombu.exceptions import OperationalError

from sollol.api.errors import (
    BrokerUnavailable,
    FleetBusy,
    GatewayError,
    GatewayTimeout,
    ModelNotFound,
    NoHealthyHost,
    UpstreamError,
)
from sollol.api.fleet_cache import FleetCache
from sollol.api.publish import TaskPublisher
from sollol.config import SOLLOLConfig
from sollol.router import Decision, FleetSnapshot, NoHostAvailable, RequestProfile, Router
from sollol.state import StreamReader
from sollol.state.circuit import record_failure
from sollol.state.queues import kombu_priority

__all__ = ["MAX_ATTEMPTS", "Call", "Dispatcher"]

log = logging.getLogger("sollol.gateway")
MAX_ATTEMPTS = 3
INFER_TASK = "sollol.infer"
BLOCK_MS = 500


@dataclass
class Call:
    """One client request on its way through the fleet."""

    endpoint: str  # chat | generate | embed | embeddings | show
    body: dict[str, Any]  # the native Ollama body sent to the host
    profile: RequestProfile
    model_label: str  # the model name as the client spelled it (for error messages)
    client_streams: bool = True  # False: the worker joins the answer and sends it once
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    attempt: int = 0
    tried: list[str] = field(default_factory=list)
    decision: Decision | None = None
    host: str = ""
    t0: float = field(default_factory=time.monotonic)
    dispatched_at: float = 0.0
    started_at: float | None = None
    queue_wait_ms: float = 0.0
    content_sent: bool = False
    finished: bool = False
    last_error: GatewayError | None = None

    @property
    def priority(self) -> int:
        return self.profile.priority


class Dispatcher:
    """Routes calls and relays their output; one per gateway process, shared by its threads."""

    def __init__(
        self,
        cfg: SOLLOLConfig,
        redis: Any,
        celery: Any,
        router: Router,
        fleet: FleetCache,
        rng: random.Random | None = None,
    ) -> None:
        self.cfg = cfg
        self.redis = redis
        self.celery = celery
        self.router = router
        self.fleet = fleet
        self.rng = rng or random.Random()
        self.publisher = TaskPublisher(redis, INFER_TASK) if cfg.fast_publish else None

    # --- routing and publishing ---------------------------------------------------------------
    def submit(self, call: Call) -> Decision:
        """Pick a host (never one already tried) and publish the next attempt there."""
        snapshot, decision = self._route(call)
        self._admit(decision.host, snapshot)
        call.attempt += 1
        call.decision, call.host = decision, decision.host
        call.tried.append(decision.host)
        call.started_at = None
        self._publish(call)
        self.fleet.note_dispatch(call.request_id, decision.host, call.priority)
        return decision

    def _route(self, call: Call) -> tuple[Any, Decision]:
        """Route on the latest snapshot. When hosts that had the model are missing — Redis just
        restarted and they are re-registering — wait up to a heartbeat TTL rather than fail."""
        deadline = time.monotonic() + self.cfg.heartbeat_ttl_s
        while True:
            snapshot = self._with_affinity(call, self.fleet.snapshot())
            try:
                return snapshot, self.router.route(call.profile, snapshot, exclude=call.tried)
            except NoHostAvailable as exc:
                transient = exc.model_unknown and (
                    not snapshot.hosts or self.fleet.recently_seen(call.profile.model)
                )
                if not transient or time.monotonic() > deadline:
                    raise self._no_host(call, exc) from None
            time.sleep(0.1)
            self.fleet.refresh(quiet=True)

    def _with_affinity(self, call: Call, snapshot: FleetSnapshot) -> FleetSnapshot:
        """Add where this conversation ran last (its prompt cache lives there), if anywhere."""
        key = call.profile.session_key
        if not key or call.profile.conversation_depth == 0:
            return snapshot
        try:
            host = self.redis.get(self.cfg.key("affinity", key))
        except redis_lib.RedisError:
            return snapshot
        if host is None:
            return snapshot
        name = host.decode() if isinstance(host, bytes) else str(host)
        return dataclasses.replace(snapshot, affinity=MappingProxyType({key: name}))

    def _no_host(self, call: Call, exc: NoHostAvailable) -> GatewayError:
        if call.last_error is not None:
            return call.last_error
        if exc.model_unknown and not self.fleet.snapshot().hosts:
            return NoHealthyHost(
                "no Ollama hosts have registered with SOLLOL yet; start a worker "
                "(`celery -A sollol worker -Q <host>`) or retry in a moment"
            )
        if exc.model_unknown and not self.fleet.recently_seen(call.profile.model):
            return ModelNotFound(_not_found_message(call.endpoint, call.model_label))
        return NoHealthyHost(
            f"no healthy host can serve model '{call.model_label}' right now: {exc.reason}"
        )

    def _admit(self, host: str, snapshot: Any) -> None:
        """Bounded queues: beyond them the fleet answers Ollama's own 503 busy."""
        state = snapshot.host(host)
        if state is not None and state.queued_total >= self.cfg.max_queue_per_host:
            raise FleetBusy()
        if sum(h.queued_total for h in snapshot.hosts) >= self.cfg.max_queue_total:
            raise FleetBusy()

    def _publish(self, call: Call) -> None:
        job = {
            "endpoint": call.endpoint,
            "body": call.body,
            "host": call.host,
            "attempt": call.attempt,
            "model": call.profile.model,
            "task_type": call.profile.task_type,
            "priority": call.priority,
            "stream": call.client_streams,
            "enqueued_at": time.time(),
        }
        deadline = time.monotonic() + self.cfg.broker_wait_s
        while True:
            try:
                self._send(call, job)
                break
            except (redis_lib.ConnectionError, OSError, OperationalError) as exc:
                if time.monotonic() > deadline:  # Redis is away, not just restarting
                    raise BrokerUnavailable(f"SOLLOL's Redis is unreachable: {exc}") from exc
                time.sleep(0.2)
        call.dispatched_at = time.monotonic()

    def _send(self, call: Call, job: dict[str, Any]) -> None:
        if call.attempt > 1:  # supersede the earlier attempt: a late copy of it is skipped
            self.redis.set(
                self.cfg.key("attempt", call.request_id), call.attempt, ex=self.cfg.stream_ttl_s
            )
        task_id = f"{call.request_id}-{call.attempt}"
        headers = {"sollol_t": round(time.time(), 3)}  # aging clock (state/aging.py)
        # keep user text out of the message headers (size; aging edits them as text)
        argsrepr = f"['{call.request_id}', <{call.endpoint} {call.profile.model}>]"
        level = kombu_priority(call.priority)
        if self.publisher is not None:
            self.publisher.publish(
                task_id,
                [call.request_id, job],
                call.host,
                level,
                self.cfg.message_expires_s,
                headers,
                argsrepr,
            )
            return
        self.celery.send_task(
            INFER_TASK,
            args=[call.request_id, job],
            queue=call.host,
            routing_key=call.host,
            priority=level,
            expires=self.cfg.message_expires_s,
            ignore_result=True,
            task_id=task_id,
            headers=headers,
            argsrepr=argsrepr,
            kwargsrepr="{}",
        )

    def cancel(self, call: Call) -> None:
        """The client went away: tell the worker to stop and free Ollama's slot."""
        if call.finished:
            return
        call.finished = True
        try:
            self.redis.set(
                self.cfg.key("cancel", call.request_id), call.attempt, ex=self.cfg.stream_ttl_s
            )
        except redis_lib.RedisError:
            log.warning("could not flag request %s as cancelled", call.request_id)

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
            call.last_error = ModelNotFound(_not_found_message(call.endpoint, call.model_label))
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


def _not_found_message(endpoint: str, model: str) -> str:
    """Ollama's own wording per endpoint (ollama-api.md §4)."""
    if endpoint in ("embed", "embeddings"):
        return f'model "{model}" not found, try pulling it first'
    if endpoint == "show":
        return f"model '{model}' not found"
    return f"model '{model}' not found"
