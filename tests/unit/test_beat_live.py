"""Beat's intervals follow live overrides (SOLLOL.update_config) without a beat restart."""

from __future__ import annotations

import pickle
from datetime import timedelta

import fakeredis
from celery import schedules

from sollol.config import load_config
from sollol.state.overrides import LiveConfig, write_overrides
from sollol.workers.beat import LiveInterval


def test_a_changed_interval_takes_effect_at_the_next_due_check():
    redis = fakeredis.FakeRedis(decode_responses=True)
    cfg = load_config(env={}, health_check_interval_s=5.0)
    live = LiveConfig(redis, cfg, refresh_s=0.0)
    every = LiveInterval(live, "health_check_interval_s")
    assert every.run_every == timedelta(seconds=5)
    write_overrides(redis, cfg, {"health_check_interval_s": 1.5})
    assert every.run_every == timedelta(seconds=1.5)
    due, next_s = every.is_due(every.now() - timedelta(seconds=2))
    assert due  # 2 s since the last run: due at 1.5 s, not yet at 5 s
    assert next_s <= 1.5


def test_the_file_scheduler_stores_a_plain_interval():
    cfg = load_config(env={}, autobatch_interval_s=7.0)
    live = LiveConfig(fakeredis.FakeRedis(decode_responses=True), cfg)
    stored = pickle.loads(pickle.dumps(LiveInterval(live, "autobatch_interval_s")))
    assert type(stored) is schedules.schedule
    assert stored.run_every == timedelta(seconds=7)


def test_the_beat_schedule_uses_live_intervals_for_the_live_settings():
    from sollol.workers.celery_app import make_celery

    app = make_celery(load_config(env={}))
    schedule = app.conf.beat_schedule
    for name in ("health", "refresh", "autobatch"):
        assert isinstance(schedule[name]["schedule"], LiveInterval), name
