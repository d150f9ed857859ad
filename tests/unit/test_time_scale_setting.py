"""SOLLOL_TIME_SCALE: read like every setting, handed to child processes, and turned into the
gateway router's tuning (a simulated fleet run faster than real is priced as a real one)."""

from __future__ import annotations

import sys
from pathlib import Path

import fakeredis
import pytest
from celery import Celery

from sollol.api import create_app
from sollol.config import ConfigError, child_env, load_config
from sollol.router import Tuning

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_time_scale_defaults_to_real_time() -> None:
    assert load_config(env={}).time_scale == 1.0


def test_time_scale_is_read_from_the_environment() -> None:
    assert load_config(env={"SOLLOL_TIME_SCALE": "0.25"}).time_scale == 0.25


@pytest.mark.parametrize("bad", ["0", "-1"])
def test_time_scale_must_be_positive(bad: str) -> None:
    with pytest.raises(ConfigError, match="time_scale"):
        load_config(env={"SOLLOL_TIME_SCALE": bad})


def test_child_processes_inherit_the_time_scale() -> None:
    env = child_env(load_config(env={}, time_scale=0.1))
    assert env["SOLLOL_TIME_SCALE"] == "0.1"


@pytest.mark.parametrize("scale", [1.0, 0.25])
def test_gateway_router_uses_the_tuning_scaled_to_the_fleet(scale: float) -> None:
    cfg = load_config(env={}, time_scale=scale)
    celery = Celery("test", broker="memory://", set_as_current=False)
    app = create_app(cfg, celery=celery, redis=fakeredis.FakeRedis(decode_responses=True))
    assert app.extensions["sollol"].router.tuning == Tuning().scaled(scale)


def test_live_benchmarks_tell_the_gateway_their_time_scale() -> None:
    sys.path.insert(0, str(BENCH))
    try:
        from _live import scaled_settings
    finally:
        sys.path.remove(str(BENCH))
    assert load_config(env={}, **scaled_settings(0.25)).time_scale == 0.25
