"""The one way SOLLOL reaches its Redis: URL parsing, client factory, bytes twin, Celery settings.

``SOLLOL_REDIS_URL`` takes either form:

    redis://[[user]:password@]host[:port][/db]      one server (also rediss://, unix://)
    sentinel://[[user]:password@]host[:port][/db];sentinel://host2[:port];…
                                                    Redis Sentinel: the sentinels' addresses
                                                    (port 26379 by default), as kombu writes them

With sentinels, the master's name is ``redis_sentinel_master`` (default ``mymaster``); db, user and
password (those of the master, not of the sentinels) come from the first address, the way kombu and
Celery read them. Clients ask the sentinels where the master is before each new connection, so
after a failover they reconnect to the promoted replica by themselves.

Clients from :func:`connect` always decode replies to ``str``: every state reader gets text and no
caller decodes bytes by hand. Everything SOLLOL stores is UTF-8 text (JSON, names, numbers; batch
vectors are JSON text too). The one exception is deliberate: request-stream entries on their way
to the HTTP client (:class:`~sollol.state.streams.StreamReader`) are read through
:func:`bytes_client`, the same server with raw replies, because the gateway writes their ``d``
field to the socket as bytes, exactly as the worker wrote it: decoding each token chunk only to
encode it again would cost CPU on the hottest path for nothing.
"""

from __future__ import annotations

import math
import threading
import weakref
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool, SentinelManagedConnection

from sollol.config import ConfigError, SOLLOLConfig

__all__ = [
    "DEFAULT_REDIS_URL",
    "SENTINEL_PORT",
    "FailoverConnection",
    "SentinelAddress",
    "bytes_client",
    "celery_redis_settings",
    "connect",
    "failover_retry",
    "is_sentinel_url",
    "parse_sentinel_url",
    "redbeat_redis_settings",
    "redis_url",
]

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"  # what a worker uses when told nothing
SENTINEL_PORT = 26379
SEPARATOR = ";"  # between sentinel addresses, as in kombu's and Celery's sentinel URLs
# Behind sentinels, a command that meets a dead master is retried on a fresh connection, which asks
# the sentinels where the master is now; it keeps trying for cfg.redis_failover_s (a failover
# takes down-after-milliseconds plus an election), polling every RETRY_STEP_S once ramped up.
RETRY_STEP_S = 0.25
RETRY_RAMP = (0.02, 0.04, 0.08, 0.16)  # first waits, s: a brief blip costs little


@dataclass(frozen=True)
class SentinelAddress:
    """A parsed ``sentinel://`` URL: where the sentinels listen and how to log in to the master."""

    sentinels: tuple[tuple[str, int], ...]
    db: int = 0
    username: str | None = None
    password: str | None = None


def redis_url(cfg: SOLLOLConfig) -> str:
    """The configured Redis URL, or the local default when none is set."""
    return cfg.redis_url or DEFAULT_REDIS_URL


def is_sentinel_url(url: str) -> bool:
    return url.partition("://")[0].strip().lower() == "sentinel"


def parse_sentinel_url(url: str) -> SentinelAddress:
    """``sentinel://:pw@h1:26379/0;sentinel://h2`` → sentinels, db, credentials of the first."""
    parts = [p.strip() for p in url.split(SEPARATOR) if p.strip()]
    if not parts or not all(is_sentinel_url(p) for p in parts):
        raise ConfigError(f"not a sentinel URL (sentinel://host:port;sentinel://…): {url!r}")
    sentinels = []
    for part in parts:
        split = urlsplit(part)
        if not split.hostname:
            raise ConfigError(f"sentinel address without a host in {url!r}")
        try:
            sentinels.append((split.hostname, split.port or SENTINEL_PORT))
        except ValueError:
            raise ConfigError(f"bad sentinel port in {url!r}") from None
    first = urlsplit(parts[0])
    db = first.path.strip("/") or "0"
    if not db.isdigit():
        raise ConfigError(f"the Redis db in {url!r} must be a number, got {db!r}")
    return SentinelAddress(
        tuple(sentinels),
        int(db),
        unquote(first.username) if first.username else None,
        unquote(first.password) if first.password else None,
    )


def connect(cfg: SOLLOLConfig, **options: Any) -> redis.Redis:
    """A client of SOLLOL's Redis (a plain server or a Sentinel-managed master), replies as ``str``.

    ``options`` are redis-py connection options (``socket_timeout``, ``max_connections``…) each
    process tunes for its own load. Raw ``bytes`` replies only through :func:`bytes_client`.
    """
    url = redis_url(cfg)
    if not is_sentinel_url(url):
        return redis.Redis.from_url(url, decode_responses=True, **options)
    options.setdefault("retry", failover_retry(cfg.redis_failover_s))
    client: redis.Redis = _sentinel(url, options).master_for(  # type: ignore[no-untyped-call]
        cfg.redis_sentinel_master,
        connection_class=FailoverConnection,
        decode_responses=True,
        **options,
    )
    return client


class FailoverConnection(SentinelManagedConnection):
    """A sentinel-managed connection that asks the sentinels for the master on every reconnect.

    redis-py's own reconnects a dropped connection to the address it had (redis-py issue 3874):
    after a failover, every retry then knocks on the dead master until the retries run out."""

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        if self._sock is None and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
        # a refused connect fails the command at once; its Retry reconnects and asks again
        super().connect_check_health(check_health, retry_socket_connect=False)


def failover_retry(span_s: float) -> Retry:
    """Retries on connection errors and timeouts that keep going for at least ``span_s`` seconds."""
    steps = len(RETRY_RAMP) + math.ceil(max(0.0, span_s - sum(RETRY_RAMP)) / RETRY_STEP_S)
    return Retry(ExponentialBackoff(cap=RETRY_STEP_S, base=RETRY_RAMP[0]), steps)


def _sentinel(url: str, options: dict[str, Any]) -> Sentinel:
    """A Sentinel client for ``url``; the master's db and credentials go to every connection."""
    address = parse_sentinel_url(url)
    timeouts = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    return Sentinel(  # type: ignore[no-untyped-call]  # redis.sentinel has no annotations
        list(address.sentinels),
        sentinel_kwargs=timeouts or {"socket_timeout": 2.0, "socket_connect_timeout": 2.0},
        db=address.db,
        username=address.username,
        password=address.password,
    )


_twins: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
_twins_lock = threading.Lock()


def bytes_client(client: Any) -> Any:
    """``client`` itself if it returns raw bytes, else its twin on the same server that does.

    For payloads relayed verbatim only (request-stream entries, see the module docstring): state
    is read through :func:`connect`'s decoded clients. The twin is built once per client (its own
    pool, the same address, sentinels and options)."""
    pool = client.connection_pool
    if not pool.connection_kwargs.get("decode_responses"):
        return client
    twin = _twins.get(client)
    if twin is None:
        with _twins_lock:
            twin = _twins.get(client)
            if twin is None:
                twin = _twins[client] = redis.Redis(connection_pool=_raw_pool(pool))
    return twin


def _raw_pool(pool: Any) -> Any:
    """A pool like ``pool`` whose connections leave replies undecoded."""
    kwargs = {**pool.connection_kwargs, "decode_responses": False}
    kwargs.pop("connection_pool", None)  # a sentinel pool's back reference to itself
    limit = {"max_connections": pool.max_connections}
    if isinstance(pool, SentinelConnectionPool):
        return SentinelConnectionPool(  # type: ignore[no-untyped-call]
            pool.service_name,
            pool.sentinel_manager,
            connection_class=pool.connection_class,
            **limit,
            **kwargs,
        )
    return type(pool)(connection_class=pool.connection_class, **limit, **kwargs)


TRANSPORT = "sollol.workers.transport:Transport"  # kombu's redis transport, fewer allocations
SENTINEL_TRANSPORT = "sollol.workers.transport:SentinelTransport"  # the same behind sentinels


def celery_redis_settings(
    cfg: SOLLOLConfig, transport_options: dict[str, Any], backend_options: dict[str, Any]
) -> dict[str, Any]:
    """Celery's broker and result backend on SOLLOL's Redis, plain or behind sentinels.

    kombu and Celery read ``sentinel://`` URLs themselves; they need the master's name in the
    transport options of both the broker and the result backend."""
    url = redis_url(cfg)
    sentinel = is_sentinel_url(url)
    master = {"master_name": cfg.redis_sentinel_master} if sentinel else {}
    return {
        "broker_url": url,
        "broker_transport": SENTINEL_TRANSPORT if sentinel else TRANSPORT,
        "broker_transport_options": {**transport_options, **master},
        "result_backend": url,
        "result_backend_transport_options": {**backend_options, **master},
    }


def redbeat_redis_settings(cfg: SOLLOLConfig) -> dict[str, Any]:
    """Where celery-redbeat keeps its schedule and lock: its own spelling of a sentinel setup."""
    url = redis_url(cfg)
    if not is_sentinel_url(url):
        return {"redbeat_redis_url": url}
    address = parse_sentinel_url(url)
    options: dict[str, Any] = {
        "sentinels": list(address.sentinels),
        "service_name": cfg.redis_sentinel_master,
        "db": address.db,
        "socket_timeout": 2.0,
    }
    if address.password:
        options["password"] = address.password
    if address.username:
        options["username"] = address.username
    return {"redbeat_redis_url": "redis-sentinel://", "redbeat_redis_options": options}
