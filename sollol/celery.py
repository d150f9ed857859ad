"""``celery -A sollol worker -Q host-a`` finds the app here (Celery looks for ``<package>.celery``)."""

from sollol.workers.celery_app import app

__all__ = ["app"]
