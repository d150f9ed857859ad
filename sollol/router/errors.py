"""The router's errors, one shallow tree (the HTTP mapping lives in ``sollol.api.errors``)::

RoutingError              anything the router refuses on purpose
 ├── NoHostAvailable      no host can take this request now
 │                        (model_unknown=True: no host has the model at all → Ollama's 404;
 │                         model_unknown=False: hosts have it but none is usable → 503)
 └── MissingCapability    hosts have the model, but none with the capability the request
                          needs (tools, vision, thinking) → Ollama's own 400
"""

from __future__ import annotations

__all__ = ["MissingCapability", "NoHostAvailable", "RoutingError"]


class RoutingError(Exception):
    """Base class of the errors the routing engine raises."""


class NoHostAvailable(RoutingError):
    """No eligible host for ``model``; ``reason`` is a sentence for the client and the logs."""

    def __init__(self, model: str, reason: str, model_unknown: bool) -> None:
        super().__init__(reason)
        self.model = model
        self.reason = reason
        self.model_unknown = model_unknown


class MissingCapability(RoutingError):
    """No copy of ``model`` has ``capability``; ``message`` is Ollama's wording for it."""

    def __init__(self, model: str, capability: str, message: str) -> None:
        super().__init__(message)
        self.model = model
        self.capability = capability
        self.message = message
