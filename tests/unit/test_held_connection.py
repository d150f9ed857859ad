"""A request's hot stream commands share one pooled connection, given back when the request ends.

Clients are fakeredis with decoded replies, as :func:`sollol.state.connection.connect` makes them."""

import fakeredis
import pytest
import redis

from sollol.state import StreamReader, StreamWriter
from sollol.state.held import HeldConnection
from sollol.wire import EventKind


def _in_use(client: fakeredis.FakeRedis) -> int:
    return len(client.connection_pool._in_use_connections)


def test_commands_of_one_owner_share_one_connection_until_it_is_released():
    r = fakeredis.FakeRedis(decode_responses=True)
    held = HeldConnection(r)
    assert held.call("SET", "k", "v") == "OK"
    assert held.call("GET", "k") == "v"
    assert _in_use(r) == 1  # both commands went over the one checked-out connection
    held.release()
    held.release()  # idempotent
    assert _in_use(r) == 0


def test_a_failed_command_gives_its_connection_back_disconnected_and_raises():
    r = fakeredis.FakeRedis(decode_responses=True)
    r.set("text", "not a list")
    held = HeldConnection(r)
    with pytest.raises(redis.ResponseError):
        held.call("LPUSH", "text", "x")
    assert _in_use(r) == 0
    assert held.call("GET", "text") == "not a list"  # the next command takes a connection again
    held.release()


def test_a_streamed_answer_holds_one_writer_connection_and_frees_it_with_the_final_entry():
    r = fakeredis.FakeRedis(decode_responses=True)
    writer = StreamWriter(r, "s", attempt=1, written=1)
    writer.emit(EventKind.CHUNK, b'{"response":"a"}')
    writer.emit(EventKind.CHUNK, b'{"response":"b"}')
    assert _in_use(r) == 1
    writer.emit(EventKind.FINAL, b'{"done":true}')
    assert _in_use(r) == 0 and writer.closed


def test_a_reader_holds_its_connection_between_reads_and_close_returns_it():
    r = fakeredis.FakeRedis(decode_responses=True)
    StreamWriter(r, "s", attempt=2).emit(EventKind.CHUNK, b"x")
    reader = StreamReader(r, "s")
    (event,) = reader.read(block_ms=1)
    assert (event.kind, event.attempt, event.data) == ("chunk", 2, b"x")
    assert reader.read(block_ms=1) == []  # nothing new: the block ends empty
    pool = reader.redis.connection_pool  # the raw-bytes twin's pool
    assert len(pool._in_use_connections) == 1
    reader.close()
    assert len(pool._in_use_connections) == 0
