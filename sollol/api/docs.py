"""``/docs``: interactive API documentation (Swagger UI) over ``/openapi.json``, served offline.

The Swagger UI assets come from the ``flask-swagger-ui`` package, which bundles Swagger UI's own
release files; nothing is fetched from a CDN, so the page works on an air-gapped fleet.
"""

from __future__ import annotations

from flask import Blueprint
from flask_swagger_ui import get_swaggerui_blueprint

__all__ = ["make_docs_blueprint"]


def make_docs_blueprint() -> Blueprint:
    """The ``/docs`` blueprint (a new one per app: Flask blueprints carry per-app state)."""
    bp: Blueprint = get_swaggerui_blueprint(
        "/docs",
        "/openapi.json",
        config={"app_name": "SOLLOL gateway API", "deepLinking": True},
        blueprint_name="docs",
    )
    return bp
