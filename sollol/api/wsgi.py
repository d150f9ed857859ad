"""WSGI entry point for gunicorn: ``gunicorn sollol.api.wsgi:app`` (settings from SOLLOL_* env vars)."""

from sollol.api.app import create_app

app = create_app()
