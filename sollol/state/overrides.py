"""Live setting overrides shared through Redis: change a running fleet without restarting it.

``overrides`` HASH: setting name → JSON value, written by ``SOLLOL.update_config()`` (or by an
operator with ``HSET``). Only the settings in :data:`LIVE` may be overridden; every gateway
process reads the hash at most once per :data:`REFRESH_S` through :class:`LiveConfig` and applies
it on top of its own configuration. The hash has no TTL: an override lasts until it is removed
(:func:`clear_overrides`) or Redis is flushed, like a setting should.

Beat's intervals (``health_check_interval_s``, ``metrics_refresh_interval_s``,
``autobatch_interval_s``) are live too: its schedule entries read them through a
:class:`LiveConfig` at every due check (``sollol.workers.beat.LiveInterval``), so a beat running
anywhere picks a change up within a second, without a restart.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from sollol.config import ConfigError, SOLLOLConfig

__all__ = [
    "LIVE",
    "REFRESH_S",
    "LiveConfig",
    "apply_overrides",
    "clear_overrides",
    "effective_config",
    "read_overrides",
    "write_overrides",
]

log = logging.getLogger("sollol")

REFRESH_S = 1.0  # how stale a process's view of the overrides may be, seconds

#: settings that may change while the fleet runs (everything else needs a restart)
LIVE = frozenset(
    {
        "strategy",
        "default_priority",
        "max_attempts",
        "retry_backoff_s",
        "request_timeout_s",
        "embed_timeout_s",
        "first_chunk_timeout_s",
        "idle_chunk_timeout_s",
        "health_check_interval_s",
        "metrics_refresh_interval_s",
        "aging_step_s",
        "autobatch_enabled",
        "autobatch_interval_s",
        "autobatch_min_batch_size",
        "autobatch_max_batch_size",
    }
)

#: of those, the ones beat reads only when it builds its schedule
BEAT_SCHEDULE = frozenset(
    {"health_check_interval_s", "metrics_refresh_interval_s", "autobatch_interval_s"}
)


def write_overrides(redis: Any, cfg: SOLLOLConfig, changes: Mapping[str, Any]) -> None:
    """Store ``changes`` (native names, all in :data:`LIVE`) for every process to pick up."""
    unknown = set(changes) - LIVE
    if unknown:
        raise ConfigError(f"not changeable while running: {', '.join(sorted(unknown))}")
    apply_overrides(cfg, changes, strict=True)  # validate before anyone reads them
    if changes:
        redis.hset(cfg.key("overrides"), mapping={k: json.dumps(v) for k, v in changes.items()})


def read_overrides(redis: Any, cfg: SOLLOLConfig) -> dict[str, Any]:
    """The stored overrides (names in :data:`LIVE` only; unreadable values skipped)."""
    out: dict[str, Any] = {}
    for name, raw_value in redis.hgetall(cfg.key("overrides")).items():
        if name not in LIVE:
            continue
        try:
            out[name] = json.loads(raw_value)
        except ValueError:
            log.warning("ignoring override %s=%r: not JSON", name, raw_value)
    return out


def clear_overrides(redis: Any, cfg: SOLLOLConfig, *names: str) -> None:
    """Remove the given overrides, or all of them."""
    if names:
        redis.hdel(cfg.key("overrides"), *names)
    else:
        redis.delete(cfg.key("overrides"))


def apply_overrides(
    cfg: SOLLOLConfig, overrides: Mapping[str, Any], strict: bool = False
) -> SOLLOLConfig:
    """``cfg`` with ``overrides`` applied; invalid values are skipped (or raise, if ``strict``)."""
    from sollol.router import STRATEGIES

    out = cfg
    for name, value in overrides.items():
        if getattr(out, name) == value:
            continue
        try:
            if name == "strategy" and value not in STRATEGIES:
                raise ConfigError(
                    f"unknown strategy {value!r}; choose one of {', '.join(STRATEGIES)}"
                )
            out = out.replace(**{name: type(getattr(cfg, name))(value)})
        except (ConfigError, TypeError, ValueError) as exc:
            if strict:
                raise ConfigError(f"{name}={value!r}: {exc}") from None
            log.warning("ignoring override %s=%r: %s", name, value, exc)
    return out


def effective_config(redis: Any, cfg: SOLLOLConfig) -> SOLLOLConfig:
    """``cfg`` with the overrides stored in Redis applied (``cfg`` itself if Redis is away)."""
    try:
        return apply_overrides(cfg, read_overrides(redis, cfg))
    except Exception as exc:  # a process must start even when Redis does not answer yet
        log.debug("overrides not read: %s", exc)
        return cfg


class LiveConfig:
    """A process's configuration with the overrides applied, re-read at most every ``refresh_s``."""

    def __init__(
        self,
        redis: Any,
        base: SOLLOLConfig,
        refresh_s: float = REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.base = base
        self.refresh_s = refresh_s
        self.clock = clock
        self._cfg = base
        self._next = 0.0

    def current(self) -> SOLLOLConfig:
        """The configuration to use now (the same object until an override changes)."""
        now = self.clock()
        if now >= self._next:
            self._next = now + self.refresh_s
            try:
                fresh = apply_overrides(self.base, read_overrides(self.redis, self.base))
            except Exception as exc:  # Redis away: keep what was in force
                log.debug("overrides not read: %s", exc)
                return self._cfg
            if fresh != self._cfg:
                self._cfg = fresh
        return self._cfg
