"""The Flask gateway: Ollama-native and OpenAI-compatible endpoints routed over the fleet.

``create_app`` is imported on first use, not with the package: gunicorn's master imports
:mod:`sollol.api.gunicorn_conf` from here and must not load the app (and redis-py) before its
gevent workers patch the standard library.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sollol.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from sollol.api.app import create_app

        return create_app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
