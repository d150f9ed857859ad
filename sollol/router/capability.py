"""Capability filter: a request that needs tools, vision or thinking only goes to hosts whose copy
of the model has that capability (Ollama ≥ 0.30 lists a model's ``capabilities`` in ``/api/tags``).

A host whose model reports no capabilities (an older Ollama) is kept: it is not known to lack
one. When hosts have the model but none has what the request needs, the request fails the way
Ollama itself answers it (400): ``registry.ollama.ai/library/m:tag does not support tools`` (or
``vision``), ``"m" does not support thinking``.

``think`` needs thinking when it is ``true`` or a level ("low", "medium", "high", "max");
``false`` needs nothing (Ollama accepts it for any model).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sollol.router.errors import MissingCapability
from sollol.router.model import HostState

__all__ = ["capable_hosts", "required_capabilities"]

_ORDER = ("tools", "vision", "thinking")  # the order Ollama checks them in


def required_capabilities(endpoint: str, body: Mapping[str, Any]) -> frozenset[str]:
    """The capabilities a native chat or generate ``body`` needs beyond plain completion."""
    needs = set()
    if endpoint == "chat" and body.get("tools"):
        needs.add("tools")
    think = body.get("think")
    if think is True or (isinstance(think, str) and think):
        needs.add("thinking")
    if _has_images(endpoint, body):
        needs.add("vision")
    return frozenset(needs)


def _has_images(endpoint: str, body: Mapping[str, Any]) -> bool:
    if endpoint == "generate":
        return bool(body.get("images"))
    messages = body.get("messages")
    if not isinstance(messages, Sequence) or isinstance(messages, str):
        return False
    return any(isinstance(m, Mapping) and m.get("images") for m in messages)


def _lacks(host: HostState, model: str, needs: frozenset[str]) -> frozenset[str]:
    caps = host.capabilities.get(model)
    return frozenset() if caps is None else needs - caps


def capable_hosts(
    hosts: Sequence[HostState], model: str, needs: frozenset[str]
) -> Sequence[HostState]:
    """``hosts`` without those whose ``model`` lacks one of ``needs``; raises
    :class:`MissingCapability` when hosts have the model and none has every capability."""
    if not needs:
        return hosts
    kept = [h for h in hosts if not _lacks(h, model, needs)]
    having = [h for h in hosts if model in h.installed]
    if not having or any(model in h.installed for h in kept):
        return kept
    missing = set().union(*(_lacks(h, model, needs) for h in having))
    first = next(c for c in _ORDER if c in missing)
    raise MissingCapability(model, first, _message(model, first))


def _message(model: str, capability: str) -> str:
    if capability == "thinking":
        return f'"{model}" does not support thinking'
    full = model if "/" in model else f"library/{model}"
    return f"registry.ollama.ai/{full} does not support {capability}"
