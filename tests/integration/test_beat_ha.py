"""Beat with SOLLOL_BEAT_SCHEDULER=redbeat: several beats may run, exactly one schedules (a Redis
lock), and a standby takes over when the active one dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from sollol.config import child_env, load_config
from sollol.state.queues import priority_list_keys
from tests.helpers import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]
INTERVAL_S = 0.5


def _beat(cfg, tmp_path, name):
    """A beat process logging to ``<name>.log`` (debug level: redbeat logs its lock waits there)."""
    log = (tmp_path / f"{name}.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sollol",
            "beat",
            "--loglevel",
            "DEBUG",
            "-s",
            str(tmp_path / f"{name}.db"),
        ],
        env=child_env(cfg),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    return proc


def _logged(tmp_path, name, text):
    return text in (tmp_path / f"{name}.log").read_text()


def _aging_messages(redis_client) -> int:
    """Aging jobs waiting in the control queue (nobody consumes it in this test)."""
    count = 0
    for key in priority_list_keys("sollol"):
        for raw in redis_client.lrange(key, 0, -1):
            count += json.loads(raw)["headers"]["task"] == "sollol.age_queues"
    return count


def _rate(redis_client, seconds: float) -> float:
    """Aging jobs scheduled per second, counted over a window of ``seconds``."""
    start = _aging_messages(redis_client)
    time.sleep(seconds)  # the measurement window
    return (_aging_messages(redis_client) - start) / seconds


def test_one_active_beat_and_a_standby_that_takes_over(redis_server, redis_client, tmp_path):
    cfg = load_config(
        env={},
        redis_url=redis_server.url,
        beat_scheduler="redbeat",
        redbeat_lock_timeout_s=3,
        aging_interval_s=INTERVAL_S,
        health_check_interval_s=60,
        reroute_interval_s=60,
        metrics_refresh_interval_s=60,
    )
    first = _beat(cfg, tmp_path, "a")
    second = None
    try:
        wait_for(lambda: _aging_messages(redis_client) > 0, 60, "the first beat to schedule")
        assert _logged(tmp_path, "a", "Acquired lock")
        second = _beat(cfg, tmp_path, "b")
        wait_for(lambda: _logged(tmp_path, "b", "Acquiring lock"), 60, "the standby to wait")
        both = _rate(redis_client, 4.0)
        assert both <= 1.5 / INTERVAL_S, f"{both}/s: two beats are both scheduling"
        assert not _logged(tmp_path, "b", "Acquired lock"), "the standby took the lock"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        wait_for(lambda: _logged(tmp_path, "b", "Acquired lock"), 60, "the standby to take over")
        assert _rate(redis_client, 2.0) > 0.5 / INTERVAL_S, "the new active beat is not scheduling"
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
