"""A failed stream read: a dropped connection keeps a queued call's place (no resubmission) and
lets an answer already streaming go on reading where it was; a Redis restart makes the relay
report a queued call's state lost and continue a streaming answer elsewhere. Told apart by the
server's run_id (sollol/state/epoch.py)."""

from __future__ import annotations

import time

import fakeredis
import pytest
import redis as redis_lib

from sollol.api.call import Call
from sollol.api.relay import AttemptLost, Relay, StateLost
from sollol.config import load_config
from sollol.router import analyse_request
from sollol.state import StreamEvent
from sollol.state.epoch import ServerEpoch
from sollol.wire import EventKind


class Server:
    """Answers INFO server like Redis: ``run_id`` changes when it "restarts"."""

    def __init__(self) -> None:
        self.run_id = "a" * 40
        self.down = False

    def info(self, section: str) -> dict[str, str]:
        assert section == "server"
        if self.down:
            raise redis_lib.ConnectionError("Connection refused")
        return {"run_id": self.run_id, "redis_version": "7.2.0"}


def test_the_same_server_since_before_a_time_is_unchanged_and_a_new_one_is_not():
    server = Server()
    epoch = ServerEpoch(server)
    epoch.note()
    published = time.monotonic()
    assert epoch.unchanged_since(published)
    server.run_id = "b" * 40
    assert not epoch.unchanged_since(published)
    # the new server is known from now on, not from before the call was published
    assert not epoch.unchanged_since(published)
    assert epoch.unchanged_since(time.monotonic())


def test_a_server_first_seen_after_the_publish_proves_nothing():
    epoch = ServerEpoch(Server())
    published = time.monotonic()
    assert not epoch.unchanged_since(published)  # first read now: it may be a restarted one


def test_an_unreachable_server_raises_and_a_server_without_info_is_never_trusted():
    server = Server()
    epoch = ServerEpoch(server)
    epoch.note()
    server.down = True
    with pytest.raises(redis_lib.ConnectionError):
        epoch.unchanged_since(time.monotonic())
    epoch.note()  # already known: no read, no error
    no_info = ServerEpoch(fakeredis.FakeRedis())  # fakeredis has no INFO command
    no_info.note()
    assert not no_info.unchanged_since(time.monotonic())


class FlakyReader:
    """A stream reader whose first read fails as a dropped connection does, then the answer."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.reads = 0

    def read(self, block_ms: int) -> list[StreamEvent]:
        self.reads += 1
        if self.reads == 1:
            raise redis_lib.ConnectionError("Connection reset by peer")
        return [StreamEvent("1-0", EventKind.FINAL, 1, b'{"done":true}')]

    def close(self) -> None:
        pass


def _relay(server: Server) -> Relay:
    cfg = load_config(env={})
    body = {"model": "llama3.2", "prompt": "hi"}
    call = Call("generate", body, analyse_request("generate", body), "llama3.2")
    epoch = ServerEpoch(server)
    epoch.note()
    call.attempt, call.host, call.dispatched_at = 1, "host-a", time.monotonic()
    redis = fakeredis.FakeRedis()  # the call is queued: its stream does not exist yet
    relay = Relay(cfg, redis, None, call, epoch)  # type: ignore[arg-type]
    relay.reader = FlakyReader(relay.reader.key)  # type: ignore[assignment]
    return relay


@pytest.mark.parametrize("streaming", [False, True], ids=["queued", "mid-stream"])
def test_a_dropped_connection_keeps_reading_the_same_attempt(streaming):
    relay = _relay(Server())
    relay.call.content_sent = streaming  # tokens already reached the client, or none yet
    events = list(relay.attempt())
    assert [kind for kind, _ in events] == [EventKind.FINAL]
    assert relay.reader.reads == 2  # type: ignore[attr-defined]


def test_a_restarted_server_while_queued_reports_the_state_lost():
    server = Server()
    relay = _relay(server)
    server.run_id = "c" * 40  # Redis restarted (empty) between the publish and the read
    with pytest.raises(StateLost):
        list(relay.attempt())


def test_a_restarted_server_mid_stream_continues_the_answer_elsewhere():
    server = Server()
    relay = _relay(server)
    relay.call.content_sent = True
    server.run_id = "d" * 40
    with pytest.raises(AttemptLost) as lost:
        list(relay.attempt())
    assert lost.value.state_lost
