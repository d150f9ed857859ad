"""Filters: which hosts can take a request at all. Scoring only ever sees what survives.

A host is eligible when it has the model installed, is not down, its circuit is not open and it
is not excluded (already tried by this request). A half-open circuit is probing: such a host is
eligible in a ``half_open_share`` of decisions (drawn from the router's RNG), or whenever no other
host is, and the health factor penalizes it when it is.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from sollol.router.errors import NoHostAvailable
from sollol.router.model import HostState

__all__ = ["eligible_hosts", "rejection_reason"]


def eligible_hosts(
    hosts: Sequence[HostState],
    model: str,
    exclude: Collection[str],
    rng: random.Random,
    half_open_share: float,
) -> list[HostState]:
    """Hosts that may serve ``model``, in snapshot order; raises :class:`NoHostAvailable`."""
    closed: list[HostState] = []
    probing: list[HostState] = []
    for h in hosts:  # runs over the whole fleet for every request: keep it flat
        if (
            model in h.installed
            and h.health != "down"
            and h.circuit != "open"
            and h.name not in exclude
        ):
            (probing if h.circuit == "half_open" else closed).append(h)
    if not probing:
        if closed:
            return closed
        raise NoHostAvailable(
            model,
            rejection_reason(hosts, model, exclude),
            model_unknown=not any(model in h.installed for h in hosts),
        )
    if not closed or rng.random() < half_open_share:
        return closed + probing
    return closed


def rejection_reason(hosts: Sequence[HostState], model: str, exclude: Collection[str]) -> str:
    """A sentence saying why no host can serve ``model``."""
    having = [h for h in hosts if model in h.installed]
    if not having:
        return f"no host has model '{model}' installed" if hosts else "no hosts are registered"
    why = []
    for h in having:
        if h.name in exclude:
            why.append(f"{h.name} already tried")
        elif h.health == "down":
            why.append(f"{h.name} is down")
        elif h.circuit == "open":
            why.append(f"{h.name} has its circuit open after failures")
    return f"every host with model '{model}' is unavailable: " + ", ".join(why)
