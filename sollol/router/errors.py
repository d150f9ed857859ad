"""The router's errors, one shallow tree (the HTTP mapping lives in ``sollol.api.errors``)::

RoutingError              anything the router refuses on purpose
 └── NoHostAvailable      no host can take this request now
                          (model_unknown=True: no host has the model at all → Ollama's 404;
                           model_unknown=False: hosts have it but none is usable → 503)
"""

from __future__ import annotations

__all__ = ["NoHostAvailable", "RoutingError"]


class RoutingError(Exception):
    """Base class of the errors the routing engine raises."""


class NoHostAvailable(RoutingError):
    """No eligible host for ``model``; ``reason`` is a sentence for the client and the logs."""

    def __init__(self, model: str, reason: str, model_unknown: bool) -> None:
        super().__init__(reason)
        self.model = model
        self.reason = reason
        self.model_unknown = model_unknown
