"""Fleet state shared through Redis by gateways, workers and beat: keys, records, streams, queues.

Everything is JSON (never pickle) under the configured ``sollol:`` prefix, with TTLs so nothing leaks.
Every client comes from :func:`sollol.state.connection.connect` (a plain server or Redis Sentinel,
replies decoded to ``str``); only request-stream entries, relayed to HTTP clients as written, are
read raw through :func:`~sollol.state.connection.bytes_client`. Keys from ``SOLLOLConfig.key``.

Modules:
    connection the client factory: default URL, ``sentinel://`` URLs, bytes twin, Celery settings
    queues    kombu's per-priority Redis lists: names, depths, SOLLOL↔Redis priority mapping
    registry  host records and heartbeats written by workers
    snapshot  reading the whole fleet into a router FleetSnapshot (one pipelined round trip)
    stats     learned per-(host, model) rates and output lengths
    streams   the per-request Redis stream that carries chunks from worker to gateway
"""

from sollol.state.connection import DEFAULT_REDIS_URL, bytes_client, connect
from sollol.state.queues import kombu_priority, priority_list_keys, queue_depths
from sollol.state.streams import StreamEvent, StreamReader, StreamWriter

__all__ = [
    "DEFAULT_REDIS_URL",
    "StreamEvent",
    "StreamReader",
    "StreamWriter",
    "bytes_client",
    "connect",
    "kombu_priority",
    "priority_list_keys",
    "queue_depths",
]
