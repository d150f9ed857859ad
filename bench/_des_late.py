"""Late binding in the discrete-event model (bench/policy.py strategies ``<name>+late``): a
what-if, not what SOLLOL does.

SOLLOL binds a request to one host's Celery queue when it arrives. Under late binding a request
whose chosen host has no free worker waits instead in ONE shared queue (highest priority first,
FIFO within a priority); whenever a worker frees anywhere, the waiting requests are routed
again, in that order, among the hosts that have a free worker, and the first the router can
place there is bound. A request for a model no free host has keeps waiting. Everything else is
bench/_des.py's model.

It answers one question: is the TTFT tail of an alike fleet a binding problem (a request stuck
behind one host's long answers while another host's worker frees first) or a capacity problem
(every worker busy)? Under late binding no request waits while a worker that could serve it is
free, so what is left of the tail is the second kind.
"""

from __future__ import annotations

from collections import deque

from _des import Job, Simulation
from _des_fleet import Host

from sollol.router import PRIORITY_LEVELS, NoHostAvailable

__all__ = ["LATE", "LateBinding", "split_late"]

LATE = "+late"


def split_late(strategy: str) -> tuple[str, bool]:
    """("least_connections+late") → ("least_connections", True)."""
    if strategy.endswith(LATE):
        return strategy[: -len(LATE)], True
    return strategy, False


class LateBinding(Simulation):
    """bench/_des.py's fleet with one shared queue in front of the hosts' queues."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.shared: list[deque[Job]] = [deque() for _ in range(PRIORITY_LEVELS)]
        self.held = 0  # requests that waited in the shared queue

    @staticmethod
    def _full(host: Host) -> bool:
        return host.busy >= host.spec.num_parallel

    def _place(self, job: Job, host: Host) -> None:
        if self._full(host):
            self.held += 1
            self.shared[job.profile.priority - 1].append(job)
            return
        self._bind(job, host)

    def _finish(self, job: Job) -> None:
        super()._finish(job)
        self._release_shared()

    def _release_shared(self) -> None:
        """Bind waiting requests, highest priority first, while some host has a free worker."""
        for queue in reversed(self.shared):
            kept: deque[Job] = deque()
            while queue:
                full = [h.name for h in self.hosts if self._full(h)]
                if len(full) == len(self.hosts):
                    queue.extendleft(reversed(kept))
                    return
                job = queue.popleft()
                try:
                    decision = self.router.route(job.profile, self.snapshot(), exclude=full)
                except NoHostAvailable:  # its model is only on busy hosts: it keeps waiting
                    kept.append(job)
                    continue
                self._bind(job, self.by_name[decision.host])
            queue.extend(kept)
