"""Live overrides: settings changed at run time reach every gateway through Redis."""

from __future__ import annotations

import fakeredis
import pytest

from sollol.config import ConfigError, SOLLOLConfig
from sollol.state.overrides import (
    LIVE,
    LiveConfig,
    apply_overrides,
    clear_overrides,
    read_overrides,
    write_overrides,
)
from tests.helpers import wait_for


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def redis():
    return fakeredis.FakeRedis(decode_responses=True)


def test_an_override_reaches_a_process_within_its_refresh_interval(redis):
    cfg, clock = SOLLOLConfig(), Clock()
    live = LiveConfig(redis, cfg, refresh_s=1.0, clock=clock)
    assert live.current().strategy == "performance"
    write_overrides(redis, cfg, {"strategy": "round_robin", "max_attempts": 5})
    assert live.current().strategy == "performance"  # read less than a refresh ago
    clock.t = 1.0
    assert (live.current().strategy, live.current().max_attempts) == ("round_robin", 5)
    clear_overrides(redis, cfg)
    clock.t = 2.0
    assert live.current() == cfg


def test_settings_that_need_a_restart_cannot_be_overridden(redis):
    with pytest.raises(ConfigError, match="not changeable while running: port"):
        write_overrides(redis, SOLLOLConfig(), {"port": 9000})
    assert "port" not in LIVE and "redis_url" not in LIVE


def test_invalid_values_are_refused_when_written(redis):
    with pytest.raises(ConfigError, match="unknown strategy"):
        write_overrides(redis, SOLLOLConfig(), {"strategy": "fastest"})
    with pytest.raises(ConfigError, match="max_attempts"):
        write_overrides(redis, SOLLOLConfig(), {"max_attempts": 0})
    assert read_overrides(redis, SOLLOLConfig()) == {}


def test_a_bad_value_written_by_hand_is_skipped_not_fatal(redis):
    cfg = SOLLOLConfig()
    redis.hset(cfg.key("overrides"), mapping={"strategy": '"nope"', "request_timeout_s": "12"})
    redis.hset(cfg.key("overrides"), "port", "1")  # not a live setting: never read
    effective = apply_overrides(cfg, read_overrides(redis, cfg))
    assert (effective.strategy, effective.request_timeout_s, effective.port) == (
        "performance",
        12.0,
        8000,
    )


def test_redis_away_keeps_the_settings_in_force():
    class Down:
        def hgetall(self, key):
            raise ConnectionError("down")

    cfg, clock = SOLLOLConfig(), Clock()
    live = LiveConfig(fakeredis.FakeRedis(decode_responses=True), cfg, clock=clock)
    write_overrides(live.redis, cfg, {"strategy": "random"})
    assert live.current().strategy == "random"
    live.redis, clock.t = Down(), 5.0
    assert live.current().strategy == "random"


def test_a_gateway_applies_overrides_before_the_next_request():
    from celery import Celery

    from sollol.api import create_app

    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = SOLLOLConfig()
    app = create_app(cfg, celery=Celery("t", broker="memory://", set_as_current=False), redis=redis)
    client = app.test_client()
    assert client.get("/api/fleet").get_json()["strategy"] == "performance"
    write_overrides(redis, cfg, {"strategy": "least_connections", "request_timeout_s": 9.0})
    # every gateway process re-reads the overrides at most once per REFRESH_S (1 s)
    wait_for(
        lambda: client.get("/api/fleet").get_json()["strategy"] == "least_connections",
        timeout=5,
        what="the override to reach the gateway",
    )
    svc = app.extensions["sollol"]
    assert svc.cfg.request_timeout_s == 9.0 and svc.dispatcher.cfg is svc.cfg
