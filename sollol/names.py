"""Names shared by every part of SOLLOL: Ollama model names and SOLLOL host names. Pure functions."""

from __future__ import annotations

import re

__all__ = ["HOST_NAME_RE", "InvalidHostName", "normalize_model", "owner_of", "validate_host_name"]

# kombu's priority separator ("\x06\x16") and ':' must never appear in a queue name
# (docs/celery-on-redis.md §1.7)
HOST_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class InvalidHostName(ValueError):
    """A host (= queue) name outside ``[a-z0-9][a-z0-9-]*``."""


def validate_host_name(name: str) -> str:
    """Return ``name`` if it is a valid SOLLOL host name, else raise :class:`InvalidHostName`."""
    if not HOST_NAME_RE.match(name):
        raise InvalidHostName(
            f"invalid host name {name!r}: use lowercase letters, digits and '-', starting with a "
            "letter or digit (it is also the Celery queue name)"
        )
    return name


def normalize_model(name: str) -> str:
    """Ollama's matching form of a model name: lower-cased, ``:latest`` when no tag, no ``library/``.

    ``Llama3.2`` → ``llama3.2:latest``; ``registry.ollama.ai/library/qwen:7b`` → ``qwen:7b``;
    ``user/model`` → ``user/model:latest``.
    """
    n = name.strip().lower()
    if not n:
        return n
    for prefix in ("registry.ollama.ai/", "library/"):
        if n.startswith(prefix):
            n = n[len(prefix) :]
    last = n.rsplit("/", 1)[-1]
    if ":" not in last:
        n += ":latest"
    return n


def owner_of(name: str) -> str:
    """The namespace OpenAI's ``owned_by`` reports: ``library`` or the ``user`` of ``user/model``."""
    n = normalize_model(name)
    return n.split("/", 1)[0] if "/" in n else "library"
