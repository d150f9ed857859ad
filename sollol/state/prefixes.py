"""The gateway's record of which prompt prefixes it dispatched to which host, for the router's
prompt-cache rule (``sollol.router.prefix``).

In process memory, one record per host: a dispatch adds the request's prompt blocks (hashes,
never text); a refresh that no longer shows a model resident on a host forgets that model there
(its caches went with it). Several gateway processes each keep their own record, so each knows
only the prefixes it sent; a conversation whose turns reach different gateways falls back to the
score. Thread-safe: request threads note, the fleet-cache thread forgets, the router reads.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from types import MappingProxyType

from sollol.router import FleetSnapshot, RequestProfile
from sollol.router.prefix import PrefixRecord

__all__ = ["PrefixBook"]


class PrefixBook:
    """Per-host :class:`PrefixRecord` objects and the read-only view snapshots carry."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, PrefixRecord] = {}
        self.view: Mapping[str, PrefixRecord] = MappingProxyType(self._records)

    def note(self, host: str, profile: RequestProfile, slots: int) -> None:
        """``profile`` was dispatched to ``host`` (``slots``: its parallel requests per model)."""
        if not profile.prefix_blocks:
            return
        with self._lock:
            record = self._records.setdefault(host, PrefixRecord())
            record.record(profile.model, profile.prefix_blocks, slots)

    def forget_unloaded(self, snapshot: FleetSnapshot) -> None:
        """Drop, per host, the models the fleet no longer shows resident there."""
        with self._lock:
            for host in snapshot.hosts:
                record = self._records.get(host.name)
                if record is None:
                    continue
                for model in record.models():
                    if not host.is_loaded(model):
                        record.forget(model)
