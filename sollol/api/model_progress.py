"""Several hosts' Ollama progress streams merged into one, as one Ollama would report it.

Pure (no I/O): :class:`ProgressMerge` is fed each host's progress lines and returns the lines the
client gets. A layer line (``digest``, ``total``, ``completed``, in bytes) is answered with the
same status and digest and ``total``/``completed`` summed over every host transferring that
layer, so a progress bar shows the fleet's pull as one. Any other status (``pulling manifest``,
``verifying sha256 digest``, ...) is passed on the first time a host reports it. ``success``
is never passed on: :meth:`ProgressMerge.final` says it only when every chosen host succeeded,
else it gives ``{"error": ...}`` naming each host that failed and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ProgressMerge"]


@dataclass
class ProgressMerge:
    """Merges the progress of one model operation on ``hosts``."""

    op: str  # pull | push | create: words of the error message
    hosts: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)  # chosen hosts not asked, and why
    _layers: dict[str, dict[str, tuple[int, int]]] = field(default_factory=dict)
    _said: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)  # host → why
    succeeded: set[str] = field(default_factory=set)

    def feed(self, host: str, line: dict[str, Any]) -> list[dict[str, Any]]:
        """The merged lines to send after ``host`` reported ``line``."""
        status = str(line.get("status", ""))
        digest = line.get("digest")
        if digest and line.get("total"):
            per_host = self._layers.setdefault(str(digest), {})
            per_host[host] = (int(line["total"]), int(line.get("completed") or 0))
            total = sum(t for t, _ in per_host.values())
            done = sum(c for _, c in per_host.values())
            out: dict[str, Any] = {"status": status, "digest": digest, "total": total}
            if done:
                out["completed"] = done  # Ollama omits a zero completed
            return [out]
        if not status or status == "success" or status in self._said:
            return []
        self._said.add(status)
        return [{"status": status}]

    def succeed(self, host: str) -> None:
        self.succeeded.add(host)

    def fail(self, host: str, why: str) -> None:
        self.failed[host] = why

    @property
    def pending(self) -> list[str]:
        """Chosen hosts that have not ended yet."""
        return [h for h in self.hosts if h not in self.succeeded and h not in self.failed]

    def final(self) -> dict[str, Any]:
        """``{"status": "success"}`` when every chosen host succeeded, else the error line."""
        problems = {**self.skipped, **self.failed}
        for host in self.pending:
            problems[host] = "did not finish"
        if not problems and self.succeeded:
            return {"status": "success"}
        if not problems:
            return {"error": f"{self.op}: no host to run it on"}
        detail = "; ".join(f"{h}: {why}" for h, why in sorted(problems.items()))
        ok = f" (succeeded on {', '.join(sorted(self.succeeded))})" if self.succeeded else ""
        return {"error": f"{self.op} failed on {detail}{ok}"}
