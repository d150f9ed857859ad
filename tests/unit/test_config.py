"""Settings: defaults with units, SOLLOL_* environment variables, explicit overrides — in that order."""

import pytest

from sollol.config import ConfigError, SOLLOLConfig, child_env, load_config


def test_defaults_need_no_environment():
    cfg = load_config(env={})
    assert cfg.port == 8000
    assert cfg.default_priority == 5
    assert cfg.strategy == "performance"
    assert cfg.redis_url == ""  # empty: `sollol up` embeds a Redis


def test_environment_overrides_defaults_with_types():
    cfg = load_config(
        env={
            "SOLLOL_PORT": "9001",
            "SOLLOL_SNAPSHOT_CACHE_MS": "100.5",
            "SOLLOL_STRATEGY": "round_robin",
            "OTHER": "x",
        }
    )
    assert cfg.port == 9001
    assert cfg.snapshot_cache_ms == 100.5
    assert cfg.strategy == "round_robin"


def test_explicit_overrides_win_over_environment():
    cfg = load_config(env={"SOLLOL_PORT": "9001"}, port=9002)
    assert cfg.port == 9002


def test_unknown_sollol_variables_are_kept_as_extra():
    cfg = load_config(env={"SOLLOL_PLUGIN_X": "1"})
    assert cfg.extra == {"plugin_x": "1"}


@pytest.mark.parametrize(
    ("var", "value"), [("SOLLOL_PORT", "eighty"), ("SOLLOL_EWMA_ALPHA", "fast")]
)
def test_bad_environment_values_are_named_in_the_error(var, value):
    with pytest.raises(ConfigError, match=var):
        load_config(env={var: value})


@pytest.mark.parametrize("priority", [0, 11])
def test_default_priority_outside_1_to_10_is_rejected(priority):
    with pytest.raises(ConfigError, match="default_priority"):
        SOLLOLConfig(default_priority=priority)


def test_keys_live_under_the_prefix():
    assert SOLLOLConfig().key("host", "gpu-a") == "sollol:host:gpu-a"


def test_child_env_carries_non_default_settings_and_extras():
    cfg = SOLLOLConfig(redis_url="redis://x:1/0", port=8100)
    env = child_env(cfg, worker_slots=2)
    assert env["SOLLOL_REDIS_URL"] == "redis://x:1/0"
    assert env["SOLLOL_PORT"] == "8100"
    assert env["SOLLOL_WORKER_SLOTS"] == "2"
    assert "SOLLOL_STRATEGY" not in env  # defaults are not repeated
    assert load_config(env=env) == SOLLOLConfig(
        redis_url="redis://x:1/0", port=8100, worker_slots=2
    )
