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

pytestmark = [pytest.mark.integration, pytest.mark.slow]
INTERVAL_S = 0.5


def _beat(cfg, tmp_path, name):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "sollol",
            "beat",
            "--loglevel",
            "INFO",
            "-s",
            str(tmp_path / f"{name}.db"),
        ],
        env=child_env(cfg),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _aging_messages(redis_client) -> int:
    """Aging jobs waiting in the control queue (nobody consumes it in this test)."""
    count = 0
    for key in priority_list_keys("sollol"):
        for raw in redis_client.lrange(key, 0, -1):
            count += json.loads(raw)["headers"]["task"] == "sollol.age_queues"
    return count


def _rate(redis_client, seconds: float) -> float:
    start = _aging_messages(redis_client)
    time.sleep(seconds)
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
        deadline = time.monotonic() + 30
        while _aging_messages(redis_client) == 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _aging_messages(redis_client) > 0, "the first beat never scheduled anything"
        second = _beat(cfg, tmp_path, "b")
        time.sleep(3)
        both = _rate(redis_client, 4.0)
        assert both <= 1.5 / INTERVAL_S, f"{both}/s: two beats are both scheduling"
        os.kill(first.pid, signal.SIGKILL)
        first.wait(5)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            if _rate(redis_client, 2.0) > 0.5 / INTERVAL_S:
                break
        else:
            pytest.fail("the standby beat never took over")
    finally:
        for proc in (first, second):
            if proc and proc.poll() is None:
                proc.terminate()
                proc.wait(10)
