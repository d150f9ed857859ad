"""``celery -A sollol worker -Q host-a`` finds the app here (Celery looks for ``<package>.celery``).

The only module that builds a Celery app when imported: its settings come from the ``SOLLOL_*``
environment of the worker, beat or Flower process that imports it.
"""

from sollol.workers.celery_app import make_celery

__all__ = ["app"]

app = make_celery()
