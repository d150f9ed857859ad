"""Session affinity: a conversation goes back to the host that ran its previous turn, where
Ollama may still hold its prompt in a slot's cache, while that host holds the model and has
room (``Tuning.affinity_cap``). Used by the ``performance`` and ``priority`` pickers.
"""

from __future__ import annotations

from collections.abc import Sequence

from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.tuning import Tuning

__all__ = ["sticky_host"]


def sticky_host(
    profile: RequestProfile, snapshot: FleetSnapshot, hosts: Sequence[HostState], tuning: Tuning
) -> int | None:
    """Index in ``hosts`` of the conversation's previous host, or None when there is none, it is
    not a candidate, the model left it, or (running + queued at ≥ p) / slots ≥ the cap."""
    name = snapshot.affinity.get(profile.session_key) if profile.session_key else None
    if name is None:
        return None
    for i, h in enumerate(hosts):
        if h.name == name:
            ahead = h.running + h.queued_at_or_above(profile.priority)
            if h.is_loaded(profile.model) and ahead / max(1, h.slots) < tuning.affinity_cap:
                return i
            return None
    return None
