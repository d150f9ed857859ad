"""The original SOLLOL's configuration names work and map onto this SOLLOL's settings."""

from __future__ import annotations

import logging

import pytest

from sollol import SOLLOLConfig, load_config
from sollol.compat import IGNORED, RENAMED, original_view
from sollol.config import child_env


def test_the_original_quick_start_config_is_accepted():
    cfg = SOLLOLConfig(
        ray_workers=4,
        dask_workers=4,
        hosts=["127.0.0.1:11434", "10.0.0.2:11434"],
        autobatch_interval=30,
        routing_strategy="performance",
    )
    assert cfg.hosts == ("127.0.0.1:11434", "10.0.0.2:11434")
    assert cfg.autobatch_interval_s == 30
    assert cfg.strategy == "performance"


def test_every_field_of_the_original_configuration_section_maps_somewhere():
    original = {
        "ray_workers": 4,
        "dask_workers": 4,
        "dask_scheduler": None,
        "hosts": ["127.0.0.1:11434"],
        "gateway_port": 8000,
        "gateway_host": "0.0.0.0",
        "routing_strategy": "round_robin",
        "autobatch_enabled": True,
        "autobatch_interval": 60,
        "autobatch_min_batch_size": 1,
        "autobatch_max_batch_size": 100,
        "metrics_enabled": True,
        "metrics_port": 9090,
        "adaptive_metrics_enabled": True,
        "adaptive_metrics_interval": 30,
        "health_check_enabled": True,
        "health_check_interval": 120,
        "max_retries": 3,
        "retry_backoff_multiplier": 0.5,
        "chat_timeout": 300.0,
        "embedding_timeout": 60.0,
    }
    cfg = SOLLOLConfig(**original)
    expected = {
        "port": 8000,
        "bind": "0.0.0.0",
        "strategy": "round_robin",
        "autobatch_interval_s": 60,
        "metrics_port": 9090,
        "metrics_refresh_interval_s": 30,
        "health_check_interval_s": 120,
        "max_attempts": 3,
        "retry_backoff_s": 0.5,
        "request_timeout_s": 300.0,
        "embed_timeout_s": 60.0,
    }
    assert {k: getattr(cfg, k) for k in expected} == expected
    # every original name is either renamed, kept as is, or explained as meaningless here
    view = original_view(cfg)
    assert set(original) <= set(view) | set(IGNORED)
    assert view["routing_strategy"] == "round_robin"


def test_names_without_meaning_here_say_so_in_one_line(caplog):
    with caplog.at_level(logging.WARNING, logger="sollol"):
        SOLLOLConfig(ray_workers=6, dask_scheduler="tcp://10.0.0.1:8786")
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert "ray_workers=6 has no effect" in lines[0] and "worker_slots" in lines[0]
    assert "redis_url" in lines[1]
    assert all("\n" not in line for line in lines)


def test_a_setting_given_under_both_names_is_an_error():
    with pytest.raises(TypeError, match="port given twice"):
        SOLLOLConfig(port=8000, gateway_port=8001)


def test_replace_and_load_config_take_the_original_names_too():
    cfg = load_config({}, gateway_port=8123).replace(chat_timeout=12.0)
    assert (cfg.port, cfg.request_timeout_s) == (8123, 12.0)


@pytest.mark.parametrize(
    ("hosts", "expected"),
    [
        ("a:1, b:2", ("a:1", "b:2")),  # one string, as SOLLOL_HOSTS or the CLI give it
        (["http://x:1", " "], ("http://x:1",)),  # blanks dropped
        ((), ()),
    ],
)
def test_hosts_may_be_a_list_or_a_comma_separated_string(hosts, expected):
    assert SOLLOLConfig(hosts=hosts).hosts == expected


def test_hosts_reach_child_processes_as_a_comma_list():
    env = child_env(SOLLOLConfig(hosts=["a:1", "b:2"]))
    assert env["SOLLOL_HOSTS"] == "a:1,b:2"
    assert load_config(env).hosts == ("a:1", "b:2")


def test_renamed_settings_exist():
    native = set(SOLLOLConfig.__dataclass_fields__)
    assert set(RENAMED.values()) <= native
