"""Celery settings only, built from SOLLOL_* environment variables (Celery's own convention).

SOLLOL's app configures itself (``celery -A sollol ...``); this module exists for tools that
expect a ``celeryconfig`` module, e.g. ``celery --config celeryconfig inspect ...``. Values come
from the single settings module, so every process agrees on priority steps and timeouts.
"""

from sollol.config import load_config
from sollol.workers.celery_app import celery_settings

globals().update(celery_settings(load_config()))
