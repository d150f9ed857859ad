"""Duplicate detection: how often each ``X-SOLLOL-Request-Id`` reached a node and was answered.

The chaos benchmark and the fault tests read it to prove that no request was answered twice.
Memory is bounded: only the most recent ``capacity`` ids are remembered.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

__all__ = ["REQUEST_ID_HEADER", "RequestLedger", "merge_ledgers"]

REQUEST_ID_HEADER = "X-SOLLOL-Request-Id"
DEFAULT_CAPACITY = 100_000


class RequestLedger:
    """Per request id: times received and times completed (fully answered), oldest ids dropped."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self.capacity = capacity
        self._counts: OrderedDict[str, list[int]] = OrderedDict()

    def received(self, request_id: str) -> None:
        counts = self._counts.get(request_id)
        if counts is None:
            counts = self._counts[request_id] = [0, 0]
            while len(self._counts) > self.capacity:
                self._counts.popitem(last=False)
        counts[0] += 1

    def completed(self, request_id: str) -> None:
        counts = self._counts.get(request_id)
        if counts is not None:
            counts[1] += 1

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{id: {"received": n, "completed": m}}`` in arrival order."""
        return {rid: {"received": r, "completed": c} for rid, (r, c) in self._counts.items()}


def merge_ledgers(per_node: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, Any]:
    """The fleet view: totals per id with each node's counts, and the ids answered more than once.

    ``{"requests": {id: {"received", "completed", "nodes": {name: {...}}}}, "duplicates": [id...]}``
    """
    merged: dict[str, dict[str, Any]] = {}
    for node, ids in per_node.items():
        for rid, counts in ids.items():
            entry = merged.setdefault(rid, {"received": 0, "completed": 0, "nodes": {}})
            entry["received"] += counts["received"]
            entry["completed"] += counts["completed"]
            entry["nodes"][node] = dict(counts)
    duplicates = [rid for rid, entry in merged.items() if entry["completed"] > 1]
    return {"requests": merged, "duplicates": duplicates}
