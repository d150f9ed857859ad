"""A call's lifecycle: whatever happens, it is finished (accounted) exactly once, with the outcome
that happened; failover moves it while nothing reached the client. Fakes stand in for the
dispatcher (routing, publishing) and the relay (the request's stream); no Redis."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sollol.api.call import Call
from sollol.api.errors import ClientGone, GatewayTimeout, NoHealthyHost, UpstreamError
from sollol.api.lifecycle import CallLifecycle
from sollol.api.relay import AttemptFailed, StateLost
from sollol.config import load_config
from sollol.router import analyse_request

CHUNK = ("chunk", b'{"response":"a","done":false}')
FINAL = ("final", b'{"response":"","done":true}')


@dataclass
class FakeDispatcher:
    """Routes every attempt to host-<n>; ``refuse`` makes submit raise instead."""

    cfg: object = field(default_factory=lambda: load_config(env={}, retry_backoff_s=0.0))
    refuse: Exception | None = None
    submitted: int = 0
    cancelled: int = 0
    fleet: object = None

    def submit(self, call: Call) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.submitted += 1
        call.attempt += 1
        call.host = f"host-{call.attempt}"
        call.tried.append(call.host)

    def cancel(self, call: Call) -> None:
        self.cancelled += 1


class FakeRelay:
    """Plays one script per attempt: a list of events, ending in an exception or not."""

    def __init__(self, *attempts: list[object]) -> None:
        self.attempts = list(attempts)
        self.restarted = 0

    def attempt(self) -> Iterator[tuple[str, bytes]]:
        for step in self.attempts.pop(0):
            if isinstance(step, BaseException):
                raise step
            yield step  # type: ignore[misc]

    def restart(self) -> None:
        self.restarted += 1


class FakeFleet:
    def refresh(self, quiet: bool = False) -> None:
        pass


def _lifecycle(relay: FakeRelay, dispatcher: FakeDispatcher | None = None):
    dispatcher = dispatcher or FakeDispatcher(fleet=FakeFleet())
    body = {"model": "llama3.2", "prompt": "hi"}
    call = Call("generate", body, analyse_request("generate", body), "llama3.2")
    finished: list[str] = []
    lc = CallLifecycle(
        call,
        dispatcher,  # type: ignore[arg-type]
        lambda c, outcome: finished.append(outcome),
        random.Random(0),
        relay=relay,  # type: ignore[arg-type]
    )
    return lc, dispatcher, finished


def test_a_streamed_answer_is_finished_once_as_ok():
    lc, dispatcher, finished = _lifecycle(FakeRelay([CHUNK, CHUNK, FINAL]))
    lc.start()
    assert list(lc.events()) == [CHUNK, CHUNK, FINAL]
    lc.close()  # the response's close() comes after the last event: no second finish
    assert finished == ["ok"] and dispatcher.cancelled == 0


def test_a_joined_answer_is_the_final_line_finished_as_ok():
    lc, _, finished = _lifecycle(FakeRelay([CHUNK, FINAL]))
    assert lc.start().join() == FINAL[1]
    assert finished == ["ok"]


def test_a_failure_before_the_first_line_is_finished_as_an_error_and_raised():
    lc, dispatcher, finished = _lifecycle(FakeRelay([GatewayTimeout("no answer within 8 s")]))
    lc.start()
    with pytest.raises(GatewayTimeout):
        lc.first()
    lc.close()
    assert finished == ["error"]
    assert dispatcher.cancelled == 1  # the worker may still hold an Ollama slot


def test_a_failure_after_the_first_line_is_finished_as_an_error_and_raised():
    relay = FakeRelay([CHUNK, UpstreamError("the host stopped answering", 504)])
    lc, _, finished = _lifecycle(relay)
    events = lc.start().events()
    assert next(events) == CHUNK
    with pytest.raises(UpstreamError):
        next(events)
    assert finished == ["error"]


def test_routing_that_fails_is_finished_as_an_error():
    dispatcher = FakeDispatcher(refuse=NoHealthyHost("no host"), fleet=FakeFleet())
    lc, _, finished = _lifecycle(FakeRelay(), dispatcher)
    with pytest.raises(NoHealthyHost):
        lc.start()
    assert finished == ["error"]


def test_a_client_that_leaves_mid_answer_is_finished_as_abandoned():
    lc, dispatcher, finished = _lifecycle(FakeRelay([CHUNK, CHUNK, FINAL]))
    events = lc.start().events()
    next(events)
    events.close()  # the WSGI server closes the response when the client went away
    lc.close()
    assert finished == ["abandoned"] and dispatcher.cancelled == 1


def test_a_client_gone_while_queued_is_finished_as_abandoned_and_its_job_cancelled():
    lc, dispatcher, finished = _lifecycle(FakeRelay([ClientGone("closed while queued")]))
    lc.start()
    with pytest.raises(ClientGone):
        lc.first()
    assert finished == ["abandoned"]  # the fleet did not fail: no error outcome, no failover
    assert dispatcher.cancelled == 1 and dispatcher.submitted == 1


def test_a_response_closed_before_it_was_iterated_is_finished_as_abandoned():
    lc, _, finished = _lifecycle(FakeRelay([CHUNK, FINAL]))
    lc.start().first()
    lc.close()
    assert finished == ["abandoned"]


def test_a_failed_attempt_moves_to_another_host_before_any_output():
    relay = FakeRelay([AttemptFailed("host: busy")], [CHUNK, FINAL])
    lc, dispatcher, finished = _lifecycle(relay)
    assert list(lc.start().events()) == [CHUNK, FINAL]
    assert dispatcher.submitted == 2 and lc.call.tried == ["host-1", "host-2"]
    assert finished == ["ok"]


def test_failover_stops_after_max_attempts_with_the_last_error():
    relay = FakeRelay(*[[AttemptFailed("host: busy")] for _ in range(5)])
    lc, dispatcher, finished = _lifecycle(relay)
    lc.call.last_error = UpstreamError("busy", 503)
    with pytest.raises(UpstreamError):
        lc.start().first()
    assert dispatcher.submitted == lc.dispatcher.cfg.max_attempts  # type: ignore[attr-defined]
    assert finished == ["error"]


def test_a_call_that_redis_lost_is_published_again_and_read_from_the_start():
    relay = FakeRelay([StateLost()], [FINAL])
    lc, dispatcher, finished = _lifecycle(relay)
    assert lc.start().join() == FINAL[1]
    assert relay.restarted == 1 and dispatcher.submitted == 2
    assert finished == ["ok"]
