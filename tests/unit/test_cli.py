"""`python -m sollol.cli up` takes the original SOLLOL's flags; hosts come from a file or a list."""

from __future__ import annotations

import argparse
import logging

import pytest

from sollol.cli import _build_parser, _hosts_of, _up_settings, main
from sollol.config import load_config


def _up(*argv: str) -> argparse.Namespace:
    return _build_parser().parse_args(["up", *argv])


def test_the_original_flags_parse_and_map_onto_settings(caplog):
    args = _up("--workers", "4", "--dask-workers", "4", "--port", "8123")
    args2 = _up("--no-autobatch", "--autobatch-interval", "30", "--adaptive-metrics-interval", "7")
    with caplog.at_level(logging.WARNING, logger="sollol"):
        cfg = load_config(env={}, **_up_settings(args))
    assert cfg.port == 8123
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == [
        "ray_workers=4 has no effect",
        "dask_workers=4 has no effect",
    ]
    cfg2 = load_config(env={}, **_up_settings(args2))
    assert (cfg2.autobatch_enabled, cfg2.autobatch_interval_s) == (False, 30)
    assert cfg2.metrics_refresh_interval_s == 7


def test_no_adaptive_metrics_says_it_cannot_be_switched_off(caplog):
    with caplog.at_level(logging.WARNING, logger="sollol"):
        load_config(env={}, **_up_settings(_up("--no-adaptive-metrics")))
    assert "adaptive_metrics_enabled=False has no effect" in caplog.text


def test_hosts_as_a_comma_separated_list():
    hosts = _hosts_of(_up("--hosts", "127.0.0.1:11434,10.0.0.2:11434"), load_config(env={}))
    assert [h.url for h in hosts] == ["http://127.0.0.1:11434", "http://10.0.0.2:11434"]


def test_hosts_file_given_or_found_in_config_hosts_txt(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(env={})
    assert _hosts_of(_up(), cfg) == []  # nothing to find: sollol up then asks for hosts
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hosts.txt").write_text("# fleet\n127.0.0.1:11434\n10.0.0.2:11434\n")
    assert [h.name for h in _hosts_of(_up(), cfg)] == ["127-0-0-1-11434", "10-0-0-2-11434"]
    assert "hosts from config/hosts.txt" in capsys.readouterr().out
    assert _hosts_of(_up("--sim", "2"), cfg) == []  # a simulated fleet wins over the default file
    (tmp_path / "mine.txt").write_text("gpu-a http://10.0.0.5:11434 slots=2\n")
    assert [h.slots for h in _hosts_of(_up("--hosts", "mine.txt"), cfg)] == [2]


def test_a_missing_hosts_file_is_an_error_not_a_host_name():
    with pytest.raises(ValueError, match="no such file"):
        _hosts_of(_up("--hosts", "nope.txt"), load_config(env={}))


def test_up_help_lists_the_original_options(capsys):
    with pytest.raises(SystemExit):
        main(["up", "--help"])
    out = capsys.readouterr().out
    for flag in (
        "--hosts",
        "--port",
        "--autobatch, --no-autobatch",
        "--autobatch-interval",
        "--adaptive-metrics, --no-adaptive-metrics",
        "--adaptive-metrics-interval",
        "--workers",
        "--dask-workers",
        "--dask-scheduler",
        "--metrics-port",
    ):
        assert flag in out, flag


def test_route_needs_a_json_body(capsys):
    assert main(["route", "--explain", "{not json", "--url", "http://127.0.0.1:1"]) == 2
    assert "--explain is not JSON" in capsys.readouterr().err


def test_hosts_says_when_the_gateway_is_not_there(capsys):
    assert main(["hosts", "--url", "http://127.0.0.1:1"]) == 1
    assert "cannot reach the gateway" in capsys.readouterr().err
