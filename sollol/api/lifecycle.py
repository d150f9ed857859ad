"""One call's life on the gateway: start → events → finish, exactly once, whatever happens.

Every routed endpoint (native, OpenAI, Anthropic…) runs a request the same way::

    lc = open_call(endpoint, native_body, priority, stream)   # validated body; routes, publishes
    obj = lc.join()                  # non-streamed: the final object with ``_sollol_routing``
    # or, streamed:
    first = lc.first()               # awaited before the HTTP status is sent
    for kind, line in lc.events():   # first included; ends after the ("final", line) event
        ...
    lc.close()                       # the response's close(): the client went away, or done

The call *finishes* (decision record, ``sollol_requests_total``, in-flight count, circuit
feedback, cancelling a worker that still runs) in :meth:`CallLifecycle.close`, and only there;
every path leads to it exactly once: an error while routing or publishing, before or after the
first line, a timeout, success, or a client that disconnects (the WSGI server closes the
response, :func:`sollol.api.responses.stream_response` forwards that). Outcomes:

    ok         the final object was read
    error      a GatewayError (or a bug) ended the call; the client sees it
    abandoned  the response was closed before the answer ended (the client went away)

Failover lives here too: when the :class:`~sollol.api.relay.Relay` reports that the current
attempt failed before any output reached the client, the call moves to another host (up to
``max_attempts`` attempts, exponential backoff with full jitter of ``retry_backoff_s``). When it
died *after* output reached the client, the answer is continued on another host from what was
sent (:mod:`sollol.api.continuation`), within the same attempt limit; the client's stream goes on
and its final line counts the whole answer. What cannot be continued ends with the error line.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from collections.abc import Callable, Generator
from typing import Any, TypeVar

from sollol.api import continuation as cont
from sollol.api.call import Call
from sollol.api.dispatch import Dispatcher
from sollol.api.errors import (
    BadRequest,
    BrokerUnavailable,
    ClientGone,
    GatewayError,
    ModelNotFound,
    NoHealthyHost,
)
from sollol.api.relay import AttemptFailed, AttemptLost, Event, Relay, StateLost, ollama_timings
from sollol.router import analyse_request
from sollol.wire import EventKind

__all__ = ["OUTCOMES", "CallLifecycle", "Event", "open_call"]

log = logging.getLogger("sollol.gateway")
OUTCOMES = ("ok", "error", "abandoned")
T = TypeVar("T")
Account = Callable[[Call, str], None]


class CallLifecycle:
    """One call from routing to its single finish; see the module docstring."""

    def __init__(
        self,
        call: Call,
        dispatcher: Dispatcher,
        account: Account,
        rng: random.Random,
        relay: Relay | None = None,
    ) -> None:
        self.call = call
        self.dispatcher = dispatcher
        self.relay = relay or Relay(
            dispatcher.cfg, dispatcher.redis, dispatcher.fleet, call, dispatcher.epoch
        )
        self._account = account
        self._rng = rng
        self._answer: Generator[Event, None, None] = self._attempts()
        self._first: Event | None = None
        self.outcome: str | None = None  # one of OUTCOMES once the call is closed
        self._ok = False  # the final event was read
        self._failed = False  # an exception ended a step
        self._sent = cont.Transcript(call.endpoint)  # what reached the client (continuation)
        self._carried = 0  # tokens sent by attempts before the current one

    # --- the public surface -------------------------------------------------------------------
    def start(self) -> CallLifecycle:
        """Route and publish the first attempt (raises the routing or broker error, finished)."""
        self._guard(lambda: self.dispatcher.submit(self.call))
        return self

    def first(self) -> Event:
        """The answer's first event, waited for (a failure here is finished, then raised)."""
        if self._first is None:
            self._first = self._guard(lambda: next(self._answer))
        return self._first

    def events(self) -> Generator[Event, None, None]:
        """Every event of the answer, the first included; the call is closed when this ends."""
        try:
            event = self.first()
            while True:
                self._ok = event[0] == EventKind.FINAL  # the fleet answered in full
                if self._ok and self.call.usage is not None:  # a key's tokens per minute
                    self.call.usage.tokens += _tokens_of(event[1])
                yield event
                if self._ok:
                    return
                event = self._guard(lambda: next(self._answer))
        finally:
            self.close()

    def join(self) -> bytes:
        """The final line of the answer (non-streamed endpoints); the call is closed."""
        with contextlib.closing(self.events()) as events:
            for kind, data in events:
                if kind == EventKind.FINAL:
                    return data
        raise AssertionError("events() ends with the final event or raises")  # pragma: no cover

    def close(self) -> None:
        """Finish the call: the one place where it is accounted for. Idempotent."""
        if self.outcome is not None:
            return
        self.outcome = "ok" if self._ok else ("error" if self._failed else "abandoned")
        self._answer.close()
        if self.outcome != "ok":
            self.dispatcher.cancel(self.call)  # a worker may still hold an Ollama slot
        self._account(self.call, self.outcome)

    # --- internals ----------------------------------------------------------------------------
    def _guard(self, step: Callable[[], T]) -> T:
        """Run one step of the call; any exception ends the call as an error, then propagates."""
        try:
            return step()
        except ClientGone:
            # not a failure of the fleet: abandoned, like a client leaving mid-answer
            self.close()
            raise
        except BaseException:
            self._failed = True
            self.close()
            raise

    def _attempts(self) -> Generator[Event, None, None]:
        """The answer across attempts: fail over while nothing reached the client, continue
        it on another host after something did."""
        while True:
            try:
                for kind, data in self.relay.attempt():
                    yield kind, self._relayed(kind, data)
                return
            except AttemptFailed as failed:
                self._fail_over(failed.why)
            except StateLost:
                self._resubmit_after_loss()
            except AttemptLost as lost:
                if not self._continue(lost):
                    yield EventKind.FINAL, self._used_up()
                    return

    def _relayed(self, kind: str, line: bytes) -> bytes:
        """One line on its way to the client: noted, and in a continued answer put in shape."""
        call = self.call
        if call.job_endpoint == "chat" and call.endpoint == "generate":
            line = cont.as_generate_line(line)  # a generate continued as chat
        if kind == EventKind.CHUNK:
            self._sent.note(line)
        elif call.continued_from:
            line = cont.merged_final(line, self._sent, self._carried, call.t0)
            call.timings = ollama_timings(line)
        return line

    def _continue(self, lost: AttemptLost) -> bool:
        """Ask another host for the rest of the answer; False when ``num_predict`` is used up.
        Past the attempt limit, or where continuing would fake the answer, the error stands."""
        call, cfg = self.call, self.dispatcher.cfg
        if call.attempt >= cfg.max_attempts:
            raise lost.error
        try:
            job = cont.continued_job(call.endpoint, call.body, self._sent)
        except cont.NotContinuable as why:
            raise GatewayError(f"{lost.error.message} ({why})", lost.error.status) from None
        self._sent.attempt_ended()
        call.continued_from.append(
            {"host": call.host, "attempt": call.attempt, "tokens": self._sent.tokens}
            | {"why": lost.why}
        )
        if job is None:
            return False
        call.job_endpoint, call.job_body = job
        self._carried = self._sent.tokens
        log.warning(
            "request %s: attempt %d on %s died after %d tokens (%s); continuing elsewhere",
            call.request_id,
            call.attempt,
            call.host,
            self._sent.tokens,
            lost.why,
        )
        if lost.state_lost:
            self._resubmit_after_loss()
        else:
            self.dispatcher.submit(call)
        return True

    def _used_up(self) -> bytes:
        """The final line of an answer whose whole ``num_predict`` was sent before it died."""
        self.call.finished = True
        return cont.synthetic_final(
            self.call.endpoint, self.call.model_label, self._sent, self.call.t0
        )

    def _fail_over(self, why: str) -> None:
        call, cfg = self.call, self.dispatcher.cfg
        if call.attempt >= cfg.max_attempts:
            raise call.last_error or NoHealthyHost(f"gave up after {call.attempt} attempts: {why}")
        log.info(
            "request %s: attempt %d on %s failed (%s); failing over",
            call.request_id,
            call.attempt,
            call.host,
            why,
        )
        # exponential backoff with full jitter: up to 50 ms, 100 ms, 200 ms … (by default)
        time.sleep(self._rng.uniform(0, cfg.retry_backoff_s * 2 ** (call.attempt - 1)))
        self.dispatcher.submit(call)

    def _resubmit_after_loss(self) -> None:
        """Redis restarted empty: publish the call again as soon as hosts and broker are back."""
        call, cfg = self.call, self.dispatcher.cfg
        log.warning("request %s: Redis lost its state; resubmitting", call.request_id)
        deadline = time.monotonic() + cfg.first_chunk_timeout_s
        call.tried.clear()
        while True:  # hosts re-register within a heartbeat; the broker may still be starting
            call.attempt = min(call.attempt, max(cfg.max_attempts - 1, 0))
            self.dispatcher.fleet.refresh(quiet=True)
            try:
                self.dispatcher.submit(call)
                self.relay.restart()
                return
            except (BrokerUnavailable, ModelNotFound, NoHealthyHost):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.25)


def _attach_tenant(call: Call) -> None:
    """With API keys on: the calling key's name (fair share), its usage sink and priority cap."""
    from sollol.api.auth import current_tenant

    tenant = current_tenant()
    if tenant is not None:
        call.tenant, call.usage = tenant.key.name, tenant
        call.priority_capped_from = tenant.priority_cap


def _attach_client(call: Call) -> None:
    """The probe that tells a waiting call its client hung up (sollol/api/client_probe.py)."""
    from flask import has_request_context, request

    from sollol.api.client_probe import client_probe

    if has_request_context():
        call.client_gone = client_probe(request.environ)


def _tokens_of(final: bytes) -> int:
    """Prompt plus generated tokens as Ollama counted them in a final object (0 if absent)."""
    try:
        obj = json.loads(final)
    except ValueError:
        return 0
    if not isinstance(obj, dict):
        return 0
    counts = (obj.get("prompt_eval_count"), obj.get("eval_count"))
    return sum(c for c in counts if isinstance(c, int))


def open_call(
    endpoint: str, body: dict[str, Any], prio: int, stream: bool = False, svc: Any = None
) -> CallLifecycle:
    """Analyse a validated native ``body``, route it and publish it; returns its lifecycle.

    ``prio`` is SOLLOL's 1-10; ``stream`` whether the client wants the answer line by line
    (chat/generate); ``svc`` the app's :class:`~sollol.api.services.Services` (default: the
    current app's). Errors before the call exists (no model named) are raised unaccounted.
    """
    if svc is None:
        from sollol.api.services import services

        svc = services()
    label = str(body.get("model") or body.get("name") or "")
    if not label.strip():
        if endpoint in ("generate", "embed"):  # Ollama's own wording differs per endpoint
            raise ModelNotFound("model '' not found")
        raise BadRequest("model is required")
    body = dict(body)
    if endpoint == "show" and "model" not in body:
        body["model"] = label
    analysed = analyse_request(endpoint, body, prio)  # show: its own task type, no generation
    call = Call(
        endpoint=endpoint, body=body, profile=analysed, model_label=label, client_streams=stream
    )
    _attach_tenant(call)
    _attach_client(call)
    return CallLifecycle(call, svc.dispatcher, svc.account, svc.dispatcher.rng).start()
