"""Live settings in the gateway: before each request, apply the overrides stored in Redis.

``SOLLOL.update_config(routing_strategy="round_robin")`` writes the ``overrides`` hash
(:mod:`sollol.state.overrides`); every gateway process re-reads it at most once a second and
swaps its configuration (timeouts, retries, default priority) and its router's strategy.
"""

from __future__ import annotations

from flask import Flask

from sollol.state.overrides import LiveConfig

__all__ = ["install_live_config"]


def install_live_config(app: Flask) -> LiveConfig:
    """Register the hook on ``app`` (after its services exist); returns the LiveConfig it reads."""
    svc = app.extensions["sollol"]
    live = LiveConfig(svc.redis, svc.cfg)

    @app.before_request
    def _apply_live_settings() -> None:
        cfg = live.current()
        if cfg is svc.cfg:
            return
        svc.cfg = cfg
        app.config["SOLLOL"] = cfg
        for part in ("dispatcher", "recorder"):
            holder = getattr(svc, part, None)
            if holder is not None and hasattr(holder, "cfg"):
                holder.cfg = cfg
        svc.router.strategy = cfg.strategy

    return live
