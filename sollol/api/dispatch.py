"""From a validated request to a message on the right host's queue: route, admit, publish.

:meth:`Dispatcher.submit` asks the router for a host (never one this call already tried) and
publishes the job to that host's Celery queue at the request's priority. It keeps no state per
call: the call's :class:`~sollol.api.lifecycle.CallLifecycle` asks it again to fail over, and
reads the answer through its own :class:`~sollol.api.relay.Relay`.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import time
from types import MappingProxyType
from typing import Any

import redis as redis_lib
from kombu.exceptions import OperationalError

from sollol.api.call import Call, not_found_message
from sollol.api.errors import (
    BrokerUnavailable,
    FleetBusy,
    GatewayError,
    ModelNotFound,
    NoHealthyHost,
)
from sollol.api.fleet_cache import FleetCache
from sollol.api.publish import TaskPublisher
from sollol.config import SOLLOLConfig
from sollol.router import Decision, FleetSnapshot, NoHostAvailable, Router
from sollol.state.epoch import ServerEpoch
from sollol.state.queues import kombu_priority
from sollol.wire import Job, Task

__all__ = ["Dispatcher"]

log = logging.getLogger("sollol.gateway")


class Dispatcher:
    """Routes and publishes calls; one per gateway process, shared by its threads."""

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
        self.epoch = ServerEpoch(redis)  # tells a dropped connection from a Redis restart
        self.publisher = (
            TaskPublisher(redis, Task.INFER, host_prefix=cfg.key("host", ""))
            if cfg.fast_publish
            else None
        )

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
        chosen = snapshot.host(decision.host)
        self.fleet.prefixes.note(decision.host, call.profile, chosen.slots if chosen else 1)
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
        return dataclasses.replace(snapshot, affinity=MappingProxyType({key: str(host)}))

    def _no_host(self, call: Call, exc: NoHostAvailable) -> GatewayError:
        if call.last_error is not None:
            return call.last_error
        if exc.model_unknown and not self.fleet.snapshot().hosts:
            return NoHealthyHost(
                "no Ollama hosts have registered with SOLLOL yet; start a worker "
                "(`celery -A sollol worker -Q <host>`) or retry in a moment"
            )
        if exc.model_unknown and not self.fleet.recently_seen(call.profile.model):
            return ModelNotFound(not_found_message(call.endpoint, call.model_label))
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
        job = Job(
            endpoint=call.job_endpoint or call.endpoint,  # a continuation may differ
            body=call.body if call.job_body is None else call.job_body,
            host=call.host,
            model=call.profile.model,
            attempt=call.attempt,
            task_type=call.profile.task_type,
            priority=call.priority,
            stream=call.client_streams,
            enqueued_at=time.time(),
        ).to_json()
        self.epoch.note()
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
        headers: dict[str, Any] = {
            "sollol_t": round(time.time(), 3)
        }  # aging clock (state/aging.py)
        if call.tenant:  # fair share between keys within a priority level (state/fairness.py)
            headers["sollol_tenant"] = call.tenant
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
                tenant=call.tenant,
            )
            return
        self.celery.send_task(
            Task.INFER,
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
