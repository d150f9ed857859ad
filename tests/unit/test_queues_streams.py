"""kombu priority lists seen from SOLLOL's 1..10 scale, and the request stream protocol.

Clients are fakeredis with decoded replies, as :func:`sollol.state.connection.connect` makes them."""

import fakeredis
import pytest

from sollol.state import (
    StreamReader,
    StreamWriter,
    kombu_priority,
    priority_list_keys,
    queue_depths,
)


def _client() -> fakeredis.FakeRedis:
    return fakeredis.FakeRedis(decode_responses=True)


@pytest.mark.parametrize(("sollol", "kombu"), [(10, 0), (5, 5), (1, 9)])
def test_critical_priority_maps_to_kombu_level_zero_which_is_served_first(sollol, kombu):
    assert kombu_priority(sollol) == kombu


def test_priority_list_keys_follow_kombu_naming():
    keys = priority_list_keys("gpu-a")
    assert keys[9] == "gpu-a"  # priority 10 → level 0 → the bare queue name
    assert keys[0] == "gpu-a\x06\x169"  # priority 1 → level 9
    assert len(set(keys)) == 10


def test_queue_depth_sums_every_priority_list_not_just_the_bare_one():
    r = _client()
    keys = priority_list_keys("gpu-a")
    r.lpush(keys[0], "m1", "m2")  # two at priority 1
    r.lpush(keys[9], "m3")  # one at priority 10
    depths = queue_depths(r, ["gpu-a", "gpu-b"])
    assert depths["gpu-a"][0] == 2 and depths["gpu-a"][9] == 1 and sum(depths["gpu-a"]) == 3
    assert sum(depths["gpu-b"]) == 0
    assert r.llen("gpu-a") == 1  # what a naive LLEN would report


def test_stream_reader_sees_entries_in_order_with_attempts():
    r = _client()
    w = StreamWriter(r, "sollol:stream:x", attempt=2, ttl_s=60)
    w.emit_json("start", {"host": "gpu-a"})
    w.emit("chunk", b'{"response":"a"}')
    w.emit("final", b'{"done":true}')
    events = StreamReader(r, "sollol:stream:x").read(block_ms=10)
    assert [e.kind for e in events] == ["start", "chunk", "final"]
    assert {e.attempt for e in events} == {2}
    assert events[0].json() == {"host": "gpu-a"}
    assert 0 < r.ttl("sollol:stream:x") <= 60


def test_stream_reader_resumes_after_the_last_entry():
    r = _client()
    w = StreamWriter(r, "s", attempt=1)
    w.emit("chunk", b"1")
    reader = StreamReader(r, "s")
    assert [e.data for e in reader.read(block_ms=10)] == [b"1"]
    w.emit("chunk", b"2")
    assert [e.data for e in reader.read(block_ms=10)] == [b"2"]
    assert reader.read(block_ms=10) == []


def test_stream_chunks_reach_the_gateway_as_the_bytes_the_worker_wrote():
    """A text client everywhere else, but stream payloads are relayed verbatim: never decoded."""
    r = _client()
    line = '{"response":"héllo"}\n'.encode()
    StreamWriter(r, "s", attempt=1).emit("chunk", line)
    (event,) = StreamReader(r, "s").read(block_ms=10)
    assert event.data == line and isinstance(event.data, bytes)
    assert (event.kind, event.attempt) == ("chunk", 1)
    assert isinstance(event.entry_id, str)


def _retried_xadd(r, writer: StreamWriter) -> None:
    """What a client retry after a lost reply leaves: the writer's last entry appended again."""
    ((_, fields),) = r.xrevrange(writer.key, count=1)
    r.xadd(writer.key, fields)


def test_a_retried_xadd_the_server_had_applied_reaches_the_reader_once():
    r = _client()
    writer = StreamWriter(r, "s:dup", attempt=1)
    writer.emit("chunk", b"one")
    _retried_xadd(r, writer)  # e.g. across a Sentinel failover
    writer.emit("chunk", b"two")
    writer.emit("final", b"end")
    got = StreamReader(r, "s:dup").read(block_ms=1)
    assert [(e.kind, e.data) for e in got] == [
        ("chunk", b"one"),
        ("chunk", b"two"),
        ("final", b"end"),
    ]


def test_a_new_run_of_the_same_attempt_numbers_its_entries_anew():
    # a redelivered message starts the attempt again (a start entry), its entries from 1 again:
    # none of them is taken for a repeat of the first run's
    r = _client()
    first = StreamWriter(r, "s:redo", attempt=1, written=1)
    first.emit("tick")
    r.xadd("s:redo", {"k": "start", "a": "1", "d": "{}"})
    again = StreamWriter(r, "s:redo", attempt=1, written=1)
    again.emit("chunk", b"x")
    got = StreamReader(r, "s:redo").read(block_ms=1)
    assert [e.kind for e in got] == ["tick", "start", "chunk"]
