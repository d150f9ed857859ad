"""One Redis access layer: URLs (plain and Sentinel), the client factory, the bytes twin, and the
Celery settings built from the same URL. No server is needed: clients connect lazily."""

import inspect
import re
from pathlib import Path

import fakeredis
import kombu
import pytest
import redis
from kombu.transport import redis as kombu_redis
from redis.sentinel import SentinelConnectionPool

from sollol.api.app import create_app
from sollol.config import ConfigError, load_config
from sollol.embedded_redis import free_port
from sollol.state.connection import (
    DEFAULT_REDIS_URL,
    SENTINEL_TRANSPORT,
    TRANSPORT,
    FailoverConnection,
    SentinelAddress,
    bytes_client,
    celery_redis_settings,
    connect,
    failover_retry,
    parse_sentinel_url,
    redbeat_redis_settings,
)
from sollol.workers.transport import Channel, SentinelChannel, SentinelTransport

SENTINELS = "sentinel://:s3cret@10.0.0.1:26380/2;sentinel://10.0.0.2;sentinel://10.0.0.3:26381"


def test_sentinel_url_lists_every_sentinel_with_the_default_port_where_none_is_given():
    assert parse_sentinel_url(SENTINELS) == SentinelAddress(
        sentinels=(("10.0.0.1", 26380), ("10.0.0.2", 26379), ("10.0.0.3", 26381)),
        db=2,  # db and password of the master are read from the first address, as kombu does
        password="s3cret",
    )


@pytest.mark.parametrize(
    "url",
    [
        "redis://10.0.0.1:6379/0",  # not a sentinel URL at all
        "sentinel://10.0.0.1;redis://10.0.0.2",  # mixed schemes
        "sentinel://:26379",  # no host
        "sentinel://10.0.0.1/zero",  # db must be a number
        "sentinel://10.0.0.1:port",
    ],
)
def test_malformed_sentinel_urls_are_a_config_error(url):
    with pytest.raises(ConfigError):
        parse_sentinel_url(url)


def test_without_a_url_clients_use_the_local_default_and_decode_replies():
    client = connect(load_config(env={}))
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("127.0.0.1", 6379, 0)
    assert DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"
    assert kwargs["decode_responses"] is True


def test_connect_gives_no_way_to_raw_replies_but_the_bytes_twin():
    with pytest.raises(TypeError):
        connect(load_config(env={}), decode_responses=False)
    assert "decode" not in inspect.signature(connect).parameters


def test_the_gateway_reads_its_state_through_a_decoding_client():
    """The gateway built from its configuration alone (no client passed in) holds one Redis
    client, and it answers ``str``: the state readers no longer decode bytes by hand."""
    cfg = load_config(env={}, redis_url=f"redis://127.0.0.1:{free_port()}/0")  # lazy: never dialled
    svc = create_app(cfg, celery=object()).extensions["sollol"]
    clients = {id(c): c for c in (svc.redis, svc.dispatcher.redis, svc.fleet.redis)}
    assert len(clients) == 1
    assert svc.redis.connection_pool.connection_kwargs["decode_responses"] is True


def test_a_sentinel_url_gives_a_client_of_the_configured_master():
    cfg = load_config(env={}, redis_url=SENTINELS, redis_sentinel_master="sollol-ha")
    client = connect(cfg, socket_timeout=7)
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "sollol-ha"
    assert [
        c.connection_pool.connection_kwargs["port"] for c in pool.sentinel_manager.sentinels
    ] == [
        26380,
        26379,
        26381,
    ]
    kwargs = pool.connection_kwargs
    assert (kwargs["db"], kwargs["password"], kwargs["socket_timeout"]) == (2, "s3cret", 7)
    assert kwargs["decode_responses"] is True
    assert client.get_retry().get_retries() == failover_retry(cfg.redis_failover_s).get_retries()


@pytest.mark.parametrize("span_s", [0.1, 5.0, 30.0])
def test_behind_sentinels_a_command_retries_for_the_failover_span_then_fails(span_s, monkeypatch):
    """A dead master is retried on fresh connections (each asks the sentinels anew) for as
    long as a failover may take, not much longer; then the caller sees the connection error."""
    slept: list[float] = []
    monkeypatch.setattr("redis.retry.sleep", slept.append)

    def dead_master() -> None:
        raise redis.ConnectionError("connection refused")

    with pytest.raises(redis.ConnectionError):
        failover_retry(span_s).call_with_retry(dead_master, lambda _: None)
    assert span_s <= sum(slept) <= span_s + 0.5


def test_the_master_name_defaults_to_the_sentinel_convention():
    assert load_config(env={}).redis_sentinel_master == "mymaster"
    cfg = load_config(env={"SOLLOL_REDIS_SENTINEL_MASTER": "fleet"})
    assert cfg.redis_sentinel_master == "fleet"


def test_the_bytes_twin_reads_the_same_server_without_decoding_and_is_made_once():
    text = fakeredis.FakeRedis(decode_responses=True)
    text.set("k", "é")
    raw = bytes_client(text)
    assert raw.get("k") == "é".encode() and text.get("k") == "é"
    assert bytes_client(text) is raw
    assert bytes_client(raw) is raw  # a client that already returns bytes is its own twin


def test_the_bytes_twin_of_a_sentinel_client_follows_the_same_master():
    cfg = load_config(env={}, redis_url=SENTINELS, redis_sentinel_master="sollol-ha")
    text = connect(cfg, max_connections=9)
    pool = bytes_client(text).connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "sollol-ha"
    assert pool.sentinel_manager is text.connection_pool.sentinel_manager
    assert pool.connection_kwargs["decode_responses"] is False
    assert pool.connection_kwargs["db"] == 2 and pool.max_connections == 9


def test_celery_uses_the_same_redis_url_for_broker_and_results():
    cfg = load_config(env={}, redis_url="redis://10.0.0.9:6390/3")
    settings = celery_redis_settings(cfg, {"visibility_timeout": 30}, {"x": 1})
    assert settings == {
        "broker_url": "redis://10.0.0.9:6390/3",
        "broker_transport": TRANSPORT,
        "broker_transport_options": {"visibility_timeout": 30},
        "result_backend": "redis://10.0.0.9:6390/3",
        "result_backend_transport_options": {"x": 1},
    }


def test_behind_sentinels_broker_and_result_backend_both_get_the_master_name():
    cfg = load_config(env={}, redis_url=SENTINELS, redis_sentinel_master="sollol-ha")
    settings = celery_redis_settings(cfg, {"visibility_timeout": 30}, {})
    assert settings["broker_url"] == settings["result_backend"] == SENTINELS  # kombu's syntax
    assert settings["broker_transport"] == SENTINEL_TRANSPORT
    assert settings["broker_transport_options"] == {
        "visibility_timeout": 30,
        "master_name": "sollol-ha",
    }
    assert settings["result_backend_transport_options"] == {"master_name": "sollol-ha"}


def test_redbeat_gets_its_own_spelling_of_the_sentinels():
    cfg = load_config(env={}, redis_url=SENTINELS, redis_sentinel_master="sollol-ha")
    settings = redbeat_redis_settings(cfg)
    assert settings["redbeat_redis_url"].startswith("redis-sentinel")
    options = settings["redbeat_redis_options"]
    assert options["sentinels"] == [("10.0.0.1", 26380), ("10.0.0.2", 26379), ("10.0.0.3", 26381)]
    assert (options["service_name"], options["db"], options["password"]) == (
        "sollol-ha",
        2,
        "s3cret",
    )
    plain = redbeat_redis_settings(load_config(env={}))
    assert plain == {"redbeat_redis_url": DEFAULT_REDIS_URL}


def test_the_sentinel_transport_is_kombus_sentinel_channel_with_sollols_cached_client():
    assert issubclass(SentinelChannel, Channel) and issubclass(
        SentinelChannel, kombu_redis.SentinelChannel
    )
    conn = kombu.Connection(
        SENTINELS, transport=SENTINEL_TRANSPORT, transport_options={"master_name": "m"}
    )
    assert isinstance(conn.transport, SentinelTransport)
    assert conn.alt == SENTINELS.split(";")  # kombu asks each sentinel in turn


def test_celery_apps_behind_sentinels_use_the_sentinel_transport_and_backend():
    """Workers, beat and the gateway's Celery app all reach the broker and results through the
    sentinels, with SOLLOL's transport options intact (every process must agree on them)."""
    from sollol.workers.celery_app import make_celery

    cfg = load_config(env={}, redis_url=SENTINELS, redis_sentinel_master="sollol-ha")
    conf = make_celery(cfg).conf
    assert conf.broker_url == SENTINELS and conf.broker_transport == SENTINEL_TRANSPORT
    options = conf.broker_transport_options
    assert options["master_name"] == "sollol-ha"
    assert options["priority_steps"] == list(range(10))
    assert conf.result_backend == SENTINELS
    assert conf.result_backend_transport_options["master_name"] == "sollol-ha"
    plain = make_celery(load_config(env={})).conf
    assert (plain.broker_url, plain.broker_transport) == (DEFAULT_REDIS_URL, TRANSPORT)


class MovingMaster:
    """A stand-in for redis-py's Sentinel: the master it names moves after the first answer."""

    def __init__(self, *addresses: tuple[str, int]) -> None:
        self.addresses = list(addresses)

    def discover_master(self, service_name: str) -> tuple[str, int]:
        return self.addresses.pop(0) if len(self.addresses) > 1 else self.addresses[0]


def test_a_reconnecting_connection_asks_the_sentinels_where_the_master_is_now():
    """After a failover a dropped connection must go to the new master, not retry the dead one
    (stock redis-py reconnects to the address it had, redis-py issue 3874). Nothing listens on
    either port, so each attempt is refused at once and only the address tried is observed."""
    old, new = ("127.0.0.1", free_port()), ("127.0.0.1", free_port())
    pool = SentinelConnectionPool("m", MovingMaster(old, new), connection_class=FailoverConnection)
    conn = pool.make_connection()
    with pytest.raises(redis.ConnectionError):
        conn.connect_check_health()
    assert (conn.host, conn.port) == old
    with pytest.raises(redis.ConnectionError):
        conn.connect_check_health()
    assert (conn.host, conn.port) == new


def test_every_sentinel_client_uses_connections_that_follow_the_master():
    cfg = load_config(env={}, redis_url=SENTINELS)
    assert connect(cfg).connection_pool.connection_class is FailoverConnection
    assert bytes_client(connect(cfg)).connection_pool.connection_class is FailoverConnection
    assert SentinelChannel.connection_class is FailoverConnection  # the broker's too


def test_no_module_builds_its_own_redis_client_or_spells_the_default_url():
    """Every client comes from sollol.state.connection (the embedded server's readiness probes
    aside), so plain or Sentinel URLs, options and decoding are decided in one place."""
    package = Path(__file__).resolve().parents[2] / "sollol"
    allowed = {package / "state" / "connection.py", package / "embedded_redis.py"}
    offenders = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if path not in allowed and re.search(r"\bRedis\(|\.from_url\(|\bSentinel\(", text):
            offenders.append(f"{path.relative_to(package)}: builds a client")
        if path not in allowed and re.search(r"(127\.0\.0\.1|localhost):6379", text):
            offenders.append(f"{path.relative_to(package)}: spells the default URL")
    assert offenders == []


HAND_DECODE = re.compile(r"isinstance\([^,()]+,\s*bytes\)|\.decode\([^)]*\)\s+if\s+isinstance\(")


def test_no_module_decodes_redis_replies_by_hand():
    """Clients decode (connect) or deliberately do not (bytes_client): nothing in the package
    checks whether a reply happens to be bytes, the sign of a client of unknown kind."""
    package = Path(__file__).resolve().parents[2] / "sollol"
    offenders = [
        f"{path.relative_to(package)}:{n}: {line.strip()}"
        for path in sorted(package.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if HAND_DECODE.search(line)
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("line", "caught"),
    [
        ("key = k.decode() if isinstance(k, bytes) else k", True),
        ("if isinstance(raw, bytes):", True),
        ("name = raw.decode('utf-8') if isinstance(raw, bytes | str) else raw", True),
        ("if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):", False),
        ("text = resp.read().decode()", False),
    ],
)
def test_the_hand_decode_check_recognises_the_idiom(line, caught):
    assert bool(HAND_DECODE.search(line)) is caught
