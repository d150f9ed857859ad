"""Tailing one call's Redis stream: the answer's lines of the current attempt, and what went wrong.

A :class:`Relay` belongs to one :class:`~sollol.api.lifecycle.CallLifecycle`. It reads the
request's stream (blocking XREAD), drops output of abandoned attempts, watches for hung and dead
hosts and feeds the hosts' circuit breakers. It never routes or publishes: when the current
attempt fails while nothing reached the client yet it raises :class:`AttemptFailed`, and when
Redis restarted and lost the call it raises :class:`StateLost`; the lifecycle decides whether to
fail over. When an attempt dies after output reached the client it raises :class:`AttemptLost`
(the lifecycle continues the answer elsewhere, or shows its error). Failures that must reach the
client are raised as :class:`GatewayError`.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Generator
from typing import Any, Literal

import redis as redis_lib

from sollol.api.call import Call, not_found_message
from sollol.api.errors import (
    BrokerUnavailable,
    ClientGone,
    GatewayError,
    GatewayTimeout,
    ModelNotFound,
    UpstreamError,
)
from sollol.api.fleet_cache import FleetCache
from sollol.config import SOLLOLConfig
from sollol.state import StreamReader
from sollol.state.circuit import record_failure
from sollol.state.epoch import ServerEpoch
from sollol.wire import ErrorInfo, ErrorReason, EventKind, StartInfo

__all__ = ["BLOCK_MS", "AttemptFailed", "AttemptLost", "Event", "Relay", "StateLost"]

log = logging.getLogger("sollol.gateway")
BLOCK_MS = 500  # longest single XREAD block; timeouts are checked between blocks
Event = tuple[str, bytes]  # ("chunk" | "final", one NDJSON line)


class AttemptFailed(Exception):
    """The current attempt failed before any output reached the client; it may move elsewhere."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class AttemptLost(Exception):
    """The current attempt died after output reached the client: continue it or show ``error``.

    ``state_lost``: Redis went away mid-answer (no host is to blame; publish once it is back)."""

    def __init__(self, why: str, error: GatewayError, state_lost: bool = False) -> None:
        super().__init__(why)
        self.why, self.error, self.state_lost = why, error, state_lost


class StateLost(Exception):
    """Redis restarted and lost the call's stream before any output reached the client."""


class Relay:
    """Reads one call's stream; see the module docstring."""

    def __init__(
        self,
        cfg: SOLLOLConfig,
        redis: Any,
        fleet: FleetCache,
        call: Call,
        epoch: ServerEpoch,  # the gateway's one record of the Redis server (the dispatcher's)
    ) -> None:
        self.cfg, self.redis, self.fleet, self.call = cfg, redis, fleet, call
        self.epoch = epoch
        self.reader = StreamReader(redis, cfg.key("stream", call.request_id))
        self._attempt, self._attempt_chunks = 0, 0  # chunks the current attempt streamed

    def attempt(self) -> Generator[Event, None, None]:
        """Yield ("chunk", line)… and finally ("final", line) of the current attempt."""
        call = self.call
        embedding = call.endpoint in ("embed", "embeddings")
        limit_s = self.cfg.embed_timeout_s if embedding else self.cfg.request_timeout_s
        deadline = call.t0 + limit_s
        try:
            yield from self._read(deadline, limit_s)
        finally:
            self.reader.close()  # its connection goes back to the pool between attempts too

    def _read(self, deadline: float, limit_s: float) -> Generator[Event, None, None]:
        call, last_event = self.call, time.monotonic()
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise GatewayTimeout(f"no answer within {limit_s:.0f} s")
            try:
                batch = self.reader.read(block_ms=int(min(BLOCK_MS, remaining * 1000)))
            except redis_lib.RedisError:
                self._survive_broker_loss()
                last_event = time.monotonic()
                continue
            if not batch:
                if call.started_at is None and call.client_gone():
                    # waiting in a queue, so no write has failed yet: drop it before a worker
                    # starts it on a GPU (the lifecycle's close sets the cancel flag it obeys)
                    raise ClientGone("the client closed the connection while queued")
                self._check_stalled(last_event)
                continue
            last_event = time.monotonic()
            for ev in batch:
                if ev.attempt != call.attempt:
                    continue  # output of an abandoned attempt
                if self._attempt != call.attempt:
                    self._attempt, self._attempt_chunks = call.attempt, 0
                out = self._handle(ev.kind, ev.data)
                if out is None:
                    continue
                if out[0] == EventKind.CHUNK:
                    # one entry may carry several lines (the worker coalesces them)
                    yield from ((EventKind.CHUNK, line) for line in out[1].split(b"\n"))
                    continue
                yield out
                if out[0] == EventKind.FINAL:
                    call.finished = True
                    return

    def restart(self) -> None:
        """Read the stream from its beginning again (Redis lost it and the call was resubmitted)."""
        self.reader.close()
        self.reader = StreamReader(self.redis, self.reader.key)

    def _handle(self, kind: str, data: bytes) -> Event | None:
        call = self.call
        if kind == EventKind.START:
            self._started(StartInfo.from_json(json.loads(data)))
            return None
        if kind == EventKind.CHUNK:
            call.content_sent = True
            self._attempt_chunks += 1
            if call.first_chunk_at is None:
                call.first_chunk_at = time.monotonic()
            return (EventKind.CHUNK, data)
        if kind == EventKind.FINAL:
            call.timings = ollama_timings(data)
            return (EventKind.FINAL, data)
        if kind == EventKind.CANCELLED:
            raise GatewayError("request cancelled", 499)
        if kind == EventKind.ERROR:
            self._on_error(ErrorInfo.from_json(json.loads(data)))
        return None

    def _started(self, info: StartInfo) -> None:
        call = self.call
        if call.started_at is not None and self._attempt_chunks:
            # the same attempt started again: its worker died and the broker redelivered it.
            # Replaying would send the client text twice: stop it, continue elsewhere.
            self.cancel_attempt()
            why = "the worker running this request was lost mid-answer"
            error = UpstreamError(
                f"{why} and the request restarted; the partial answer above is incomplete", 502
            )
            raise AttemptLost(why, error)
        now = time.monotonic()
        if call.started_at is None:
            call.queue_wait_ms = (now - call.dispatched_at) * 1000
        call.started_at = now
        call.host = info.host or call.host

    def _on_error(self, info: ErrorInfo) -> None:
        """A worker reported a failure of the current attempt: move it or give up."""
        call = self.call
        error: GatewayError
        if info.reason == ErrorReason.MODEL_MISSING:
            self.fleet.refresh(quiet=True)
            error = ModelNotFound(not_found_message(call.endpoint, call.model_label))
        else:
            error = UpstreamError(info.error, info.status)
        call.last_error = error
        if info.reason.blames_host:
            self.host_failed(f"{info.status} {info.error}")
        why = f"{info.reason}: {info.error}"
        if call.content_sent and info.reason not in (ErrorReason.CLIENT, ErrorReason.CANCELLED):
            raise AttemptLost(why, error)
        if not info.retryable or info.reason == ErrorReason.CLIENT or call.content_sent:
            raise error
        raise AttemptFailed(why)

    def host_failed(self, why: str) -> None:
        """Feed the current host's circuit breaker (shared with every gateway through Redis)."""
        host = self.call.host
        try:
            state = record_failure(self.redis, self.cfg, host, why, time.time())
        except redis_lib.RedisError:
            return
        if state == "open":
            log.warning("circuit of host %s is open: %s", host, why)
            self.fleet.refresh(quiet=True)

    def _check_stalled(self, last_event: float) -> None:
        """No output for a while: a hung host (started) or a dead host (still queued)."""
        call, now = self.call, time.monotonic()
        if call.started_at is None:
            if now - call.dispatched_at > self.cfg.first_chunk_timeout_s:
                self._stalled("no worker started the request in time")
            elif self._host_down() and now - call.dispatched_at > self._down_grace_s():
                # beat moves waiting messages off dead hosts first; this is the backstop
                self._stalled(f"host {call.host} went down")
        elif now - last_event > self.cfg.idle_chunk_timeout_s:
            self._stalled(f"host {call.host} stopped answering")
        elif self._host_down() and now - last_event > self._down_grace_s():
            self._stalled(f"host {call.host} went down mid-request")

    def _stalled(self, why: str) -> None:
        """Stop the stalled attempt, blame its host, and move it if nothing was sent yet."""
        self.cancel_attempt()
        self.host_failed(why)
        self.call.last_error = error = GatewayTimeout(why)
        if self.call.content_sent:
            raise AttemptLost(why, error)
        raise AttemptFailed(why)

    def cancel_attempt(self) -> None:
        """Tell the worker of the current attempt (and earlier ones) to stop."""
        call = self.call
        try:
            self.redis.set(
                self.cfg.key("cancel", call.request_id), call.attempt, ex=self.cfg.stream_ttl_s
            )
        except redis_lib.RedisError:
            log.warning("could not flag request %s as cancelled", call.request_id)

    def _down_grace_s(self) -> float:
        return 2 * self.cfg.reroute_interval_s + self.cfg.heartbeat_ttl_s

    def _host_down(self) -> bool:
        state = self.fleet.snapshot().host(self.call.host)
        return state is None or state.health == "down"

    def _survive_broker_loss(self) -> None:
        """A read failed: wait for Redis; keep reading if only a connection dropped, else
        continue the answer elsewhere (AttemptLost) or raise StateLost if the call is gone."""
        deadline = time.monotonic() + self.cfg.first_chunk_timeout_s
        state = self._wait_for_redis(deadline)
        if state == "kept":  # only connections dropped: the stream (or queued message) is intact
            log.warning(
                "lost SOLLOL's Redis for a while, same server back: request %s reads on",
                self.call.request_id,
            )
            return
        if self.call.content_sent:
            # a restarted Redis lost what the worker wrote meanwhile even if the stream was
            # restored: stop the attempt and continue from what the client has
            self.cancel_attempt()
            why = "SOLLOL's Redis restarted and lost this answer mid-stream"
            raise AttemptLost(why, UpstreamError(why, 502), state_lost=True)
        if state == "restored" or self.call.dispatched_at == 0:
            return
        raise StateLost()

    def _wait_for_redis(self, deadline: float) -> Literal["kept", "restored", "lost"]:
        """Block until Redis answers again, then say what became of the call's state: "kept"
        (the server is the one that took the call, so only a connection dropped), "restored"
        (another server, but the call's stream is there, from a snapshot or AOF) or "lost"."""
        while True:
            try:
                if self.epoch.unchanged_since(self.call.dispatched_at):
                    return "kept"
                return "restored" if self.redis.exists(self.reader.key) else "lost"
            except redis_lib.RedisError as exc:
                if time.monotonic() > deadline:
                    raise BrokerUnavailable(f"SOLLOL's Redis is unreachable: {exc}") from exc
                time.sleep(0.25)


_TIMINGS = ("load_duration", "prompt_eval_duration", "eval_count", "eval_duration")


def ollama_timings(final: bytes) -> dict[str, int]:
    """Ollama's timings in a final object (durations in ns), for the metrics; {} if absent."""
    try:
        obj = json.loads(final)
    except ValueError:
        return {}
    if not isinstance(obj, dict):
        return {}
    return {k: obj[k] for k in _TIMINGS if isinstance(obj.get(k), int)}
