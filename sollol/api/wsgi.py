"""WSGI entry point for gunicorn: ``gunicorn sollol.api.wsgi:app`` (settings from SOLLOL_* env vars)."""

import sys

from sollol.api.app import create_app

app = create_app()
sys.setswitchinterval(app.config["SOLLOL"].switch_interval_ms / 1000)
