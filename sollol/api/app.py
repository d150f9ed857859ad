"""The Flask application factory: ``create_app()`` builds a gateway from a SOLLOLConfig."""

from __future__ import annotations

import logging
import random
from typing import Any

from flask import Flask

from sollol.api.dispatch import Dispatcher
from sollol.api.errors import register_error_handlers
from sollol.api.fleet_cache import FleetCache
from sollol.api.services import Recorder, Services
from sollol.config import SOLLOLConfig, load_config
from sollol.router import Router, Tuning
from sollol.state.connection import connect

__all__ = ["create_app"]


def create_app(
    config: SOLLOLConfig | None = None,
    *,
    celery: Any = None,
    redis: Any = None,
    router: Router | None = None,
) -> Flask:
    """A gateway app. Tests may pass their own ``celery`` app, ``redis`` client or ``router``."""
    cfg = config or load_config()
    app = Flask("sollol")
    app.config["SOLLOL"] = cfg
    app.config["MAX_CONTENT_LENGTH"] = cfg.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    logging.getLogger("sollol").setLevel(cfg.log_level.upper())
    client = redis or connect(
        cfg,
        socket_timeout=30,
        socket_connect_timeout=2,
        health_check_interval=10,
        # every open call holds one connection while it reads its stream (state/held.py),
        # plus what the routes and background loops borrow for a moment
        max_connections=cfg.gateway_open_requests + 64,
    )
    if celery is None:
        from sollol.workers.celery_app import make_celery

        celery = make_celery(cfg)
    router = router or Router(
        cfg.strategy, rng=random.Random(), tuning=Tuning().scaled(cfg.time_scale)
    )
    fleet = FleetCache(client, cfg)
    app.extensions["sollol"] = Services(
        cfg=cfg,
        redis=client,
        celery=celery,
        router=router,
        fleet=fleet,
        dispatcher=Dispatcher(cfg, client, celery, router, fleet),
        recorder=Recorder(client, cfg, fleet),
    )
    _register_blueprints(app)
    register_error_handlers(app)
    from sollol.api.auth import install_auth

    install_auth(app, cfg, client)  # before any view: keys, limits, the admin surface
    from sollol.api.metrics import init_metrics

    app.extensions["sollol"].metrics = init_metrics(app, fleet.views)
    from sollol.api.live import install_live_config

    install_live_config(app)  # settings changed at run time (update_config) reach this process
    return app


def _register_blueprints(app: Flask) -> None:
    from sollol.api.batch import bp as batch_bp
    from sollol.api.fleet import bp as fleet_bp
    from sollol.api.native import bp as native_bp
    from sollol.api.openai import bp as openai_bp

    app.register_blueprint(native_bp)
    from sollol.api.models import bp as models_bp

    app.register_blueprint(models_bp)  # /api/pull, push, create, copy, delete
    app.register_blueprint(openai_bp)
    app.register_blueprint(fleet_bp)
    app.register_blueprint(batch_bp)
    from sollol.api.docs import make_docs_blueprint
    from sollol.api.explain import bp as explain_bp
    from sollol.api.stats import bp as stats_bp

    app.register_blueprint(stats_bp)
    app.register_blueprint(explain_bp)
    app.register_blueprint(make_docs_blueprint())
    from sollol.api.anthropic import bp as anthropic_bp
    from sollol.api.responses_api import bp as responses_bp

    app.register_blueprint(anthropic_bp)  # /v1/messages
    app.register_blueprint(responses_bp)  # /v1/responses
