"""SOLLOL's kombu transport (one cached client per channel) against a real Redis."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection
from kombu.common import ignore_errors

pytestmark = pytest.mark.integration

TRANSPORT = "sollol.workers.transport:Transport"


def _connection(redis_server):
    return Connection(redis_server.url, transport=TRANSPORT)


def test_a_channel_reuses_one_client_per_pool(redis_server):
    with _connection(redis_server) as conn:
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        channel._disconnect_pools()  # what close() and a reconnect do
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.ping()


def test_closing_a_channel_whose_connection_is_gone_is_a_connection_error(redis_server):
    """After the broker went away, Celery closes the old connection with ``ignore_errors``;
    the channel's close restores unacked messages and needs a client although its transport is
    already detached. That must be a connection error (ignored, the consumer reconnects), not the
    AttributeError stock kombu raises, which made the worker exit with "Unrecoverable error"."""
    conn = _connection(redis_server)
    channel = conn.channel()
    channel.basic_publish(channel.prepare_message("x"), exchange="", routing_key="q-transport")
    channel.queue_declare("q-transport")
    assert channel.basic_get("q-transport", no_ack=False) is not None  # one unacked message
    channel._disconnect_pools()
    channel.connection.client = None  # the state kombu leaves a released connection in
    with pytest.raises(redis.ConnectionError), channel.conn_or_acquire():
        pass
    ignore_errors(conn, channel.close)  # raised AttributeError before the fix
    assert channel.closed
