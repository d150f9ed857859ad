"""Ranking the candidates of one decision: bound every host cheaply, cost and score only the
hosts that can still matter.

1. Every eligible host gets a lower bound on its predicted cost (:meth:`Estimator.lower_bound`).
2. Exact costs are computed in order of increasing bound until the next bound is no lower than
   the cheapest cost found: that cost is then the fleet's best (the speed factor's reference).
3. Full scores (all factors) follow in the same order, and the walk stops once no remaining host
   can beat the fourth best score (the winner plus three alternatives): a host's score is at
   most ``(best_cost / cost) ^ w_speed ≤ (best_cost / bound) ^ w_speed`` because every other
   factor is ≤ 1.

The bounds are exact, so pruning never changes the answer (ties go to the cheaper host, then to
snapshot order); it is what keeps a 256-host decision well under a millisecond.
"""

from __future__ import annotations

from collections.abc import Sequence

from sollol.router import scorers
from sollol.router.estimate import Estimator
from sollol.router.model import HostState, RequestProfile
from sollol.router.tuning import Tuning

__all__ = ["KEEP", "Ranking"]

KEEP = 4  # the winner and up to three alternatives


class Ranking:
    """Bounds, costs and scores of one decision's candidates (costs and scores filled lazily)."""

    __slots__ = (
        "best_cost",
        "bounds",
        "costs",
        "est",
        "exponents",
        "factors",
        "hosts",
        "order",
        "profile",
        "scores",
        "tuning",
    )

    def __init__(
        self,
        profile: RequestProfile,
        hosts: Sequence[HostState],
        est: Estimator,
        exponents: tuple[float, ...],
        tuning: Tuning,
    ) -> None:
        self.profile, self.hosts, self.est = profile, hosts, est
        self.exponents, self.tuning = exponents, tuning
        self.bounds = [est.lower_bound(h) for h in hosts]
        self.order = sorted(range(len(hosts)), key=self.bounds.__getitem__)
        self.costs: dict[int, float] = {}
        self.scores: dict[int, float] = {}
        self.factors: dict[int, tuple[float, ...]] = {}
        best = float("inf")
        for i in self.order:
            if self.bounds[i] >= best:
                break
            best = min(best, self.cost(i))
        self.best_cost = best

    def cost(self, i: int) -> float:
        """Exact predicted cost of host ``i`` (computed once)."""
        c = self.costs.get(i)
        if c is None:
            c = self.costs[i] = sum(self.est.parts(self.hosts[i]))
        return c

    def evaluate(self) -> None:
        """Score hosts by increasing bound until none left can enter the top ``KEEP``."""
        w_speed, best = self.exponents[0], self.best_cost  # FACTORS[0] is "speed"
        top: list[float] = []  # the best KEEP scores so far, descending
        for i in self.order:
            full = len(top) == KEEP
            if full and scorers.speed(best, self.bounds[i]) ** w_speed <= top[-1]:
                break
            if full and scorers.speed(best, self.cost(i)) ** w_speed <= top[-1]:
                continue
            s = self.score(i)
            if not full or s > top[-1]:
                top.append(s)
                top.sort(reverse=True)
                del top[KEEP:]

    def score(self, i: int) -> float:
        """The score of host ``i`` (computed once): weighted geometric mean of its factors."""
        cached = self.scores.get(i)
        if cached is not None:
            return cached
        f = self.factors[i] = self._factors(i)
        score = 1.0
        for value, w in zip(f, self.exponents, strict=True):
            if value < 1.0 and w:
                score *= value**w if value > 0.0 else 0.0
        self.scores[i] = score
        return score

    def _factors(self, i: int) -> tuple[float, ...]:
        h, p, t, model = self.hosts[i], self.profile, self.tuning, self.profile.model
        gen = self.est.rates(h, model, self.est.embedding).gen_tps
        fastest = self.est.max_gen_tps or gen
        return (
            scorers.speed(self.best_cost, self.cost(i)),
            scorers.success(h, model),
            scorers.health(h, t),
            scorers.gpu(p, h, t),
            scorers.load(h),
            scorers.priority(p, h, gen / fastest),
            scorers.specialization(p.task_type, h.tags),
            scorers.headroom(h, model),
        )

    def best(self) -> int:
        """Index of the highest score evaluated (ties: cheaper, then earlier in the snapshot)."""
        return max(self.scores, key=lambda i: (self.scores[i], -self.costs[i], -i))

    def runners_up(self, pick: int, n: int) -> list[int]:
        """The ``n`` best evaluated hosts other than ``pick``, best first."""
        rest = sorted(
            (i for i in self.scores if i != pick), key=lambda i: (-self.scores[i], self.costs[i], i)
        )
        return rest[:n]
