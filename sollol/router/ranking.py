"""Ranking the candidates of one decision: bound every host cheaply, cost and score only the
hosts that can still matter.

1. Every eligible host gets a lower bound on its predicted cost (:meth:`Estimator.lower_bound`).
2. Exact costs are computed in order of increasing bound until the next bound is no lower than
   the cheapest cost found: that cost is then the fleet's best (the speed factor's reference).
3. Full scores (every weighted factor) follow in the same order, and the walk stops once no
   remaining host can beat the fourth best score (the winner plus three alternatives): a host's
   score is at most ``(best_cost / cost) ^ w_speed ≤ (best_cost / bound) ^ w_speed`` because
   every other factor is ≤ 1 (w_speed = 0 when no scorer is named "speed": no pruning). For the
   same reason a host's score stops being computed as soon as its running product falls under
   the fourth best. Factors of weight 0 are reported, not scored: computed for the pick only.

The bounds are exact, so pruning never changes the answer (ties go to the cheaper host, then to
snapshot order); it is what keeps a 256-host decision well under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from sollol.router.estimate import Estimator, Prediction
from sollol.router.model import FleetSnapshot, HostState, RequestProfile
from sollol.router.scorers import Scorer, ScoringContext, Speed, relative_speed
from sollol.router.tuning import Tuning

__all__ = ["KEEP", "Edge", "Ranking", "WeightedScorers"]

KEEP = 4  # the winner and up to three alternatives

# (scorer, exponent) pairs: each exponent is the scorer's weight ÷ the sum of the weights
WeightedScorers = tuple[tuple[Scorer, float], ...]
# (the faster host a pick beat, [(factor, pick's value, its value)], strongest reason first)
Edge = tuple[int, list[tuple[str, float, float]]]


class Ranking:
    """Bounds, costs and scores of one decision's candidates (costs and scores filled lazily)."""

    __slots__ = (
        "best_cost",
        "bounds",
        "costs",
        "ctx",
        "est",
        "factors",
        "hosts",
        "order",
        "parts",
        "scorers",
        "scores",
        "w_speed",
        "weighted",
    )

    def __init__(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        est: Estimator,
        scorers: WeightedScorers,
        tuning: Tuning,
    ) -> None:
        self.hosts, self.est, self.scorers = hosts, est, scorers
        self.w_speed = sum(w for s, w in scorers if s.name == Speed.name)
        # the factors the score is made of; a weight-0 factor is only reported (factors_of)
        self.weighted = tuple((s, w) for s, w in scorers if w)
        self.bounds, gen_tps = est.lower_bounds(hosts)
        self.order = sorted(range(len(hosts)), key=self.bounds.__getitem__)
        self.costs: dict[int, float] = {}
        self.parts: dict[int, tuple[float, float, float, float, float]] = {}
        self.scores: dict[int, float] = {}
        self.factors: dict[int, tuple[float, ...]] = {}
        best = float("inf")
        for i in self.order:
            if self.bounds[i] >= best:
                break
            best = min(best, self.cost(i))
        self.best_cost = best
        fastest = max(gen_tps.values(), default=0.0)
        self.ctx = ScoringContext(profile, snapshot, tuning, est, best, fastest, gen_tps)

    def cost(self, i: int) -> float:
        """Exact predicted cost of host ``i`` (computed once)."""
        c = self.costs.get(i)
        if c is None:
            parts = self.parts[i] = self.est.parts(self.hosts[i])
            c = self.costs[i] = sum(parts)
        return c

    def prediction(self, i: int) -> Prediction:
        """The estimator's prediction for host ``i`` (from the parts its cost was made of)."""
        self.cost(i)
        return Prediction(*self.parts[i])

    def evaluate(self) -> None:
        """Score hosts by increasing bound until none left can enter the top ``KEEP``."""
        w_speed, best = self.w_speed, self.best_cost
        top: list[float] = []  # the best KEEP scores so far, descending
        for i in self.order:
            full = len(top) == KEEP
            if full and relative_speed(best, self.bounds[i]) ** w_speed <= top[-1]:
                break
            if full and relative_speed(best, self.cost(i)) ** w_speed <= top[-1]:
                continue
            s = self._score(i, top[-1] if full else -1.0)
            if s is not None and (not full or s > top[-1]):
                top.append(s)
                top.sort(reverse=True)
                del top[KEEP:]

    def score(self, i: int) -> float:
        """The score of host ``i`` (computed once): Π factor ^ exponent over the scorers."""
        score = self._score(i, -1.0)
        return 0.0 if score is None else score  # never None: every score is ≥ 0 > −1

    def _score(self, i: int, floor: float) -> float | None:
        """The score of host ``i``, or None (nothing kept) as soon as the product, which only
        falls as factors ≤ 1 multiply in, is under ``floor``: the host cannot enter the top.
        (Not at the floor: hosts exactly alike must all be scored, for the picker's draw.)"""
        cached = self.scores.get(i)
        if cached is not None:
            return cached
        h, cost, ctx = self.hosts[i], self.cost(i), self.ctx
        f = []
        score = 1.0
        for scorer, w in self.weighted:
            value = scorer(ctx, h, cost)
            f.append(value)
            if value < 1.0:
                score *= value**w if value > 0.0 else 0.0
                if score < floor:
                    return None
        self.factors[i] = tuple(f)
        self.scores[i] = score
        return score

    def factors_of(self, i: int) -> Mapping[str, float]:
        """Each scorer's factor for host ``i``, by name (scoring it if needed; the weight-0
        factors, reported only, are computed here)."""
        self.score(i)
        weighted = dict(zip((s.name for s, _ in self.weighted), self.factors[i], strict=True))
        h, cost, ctx = self.hosts[i], self.costs[i], self.ctx
        return {s.name: weighted[s.name] if w else s(ctx, h, cost) for s, w in self.scorers}

    def best(self) -> list[int]:
        """Indices of the highest score evaluated, the cheapest among equal scores: one host, or
        several exactly alike (identical hosts in the same state), in snapshot order."""
        top = max(self.scores.values())
        tied = [i for i in self.scores if self.scores[i] == top]
        if len(tied) > 1:
            cheapest = min(self.costs[i] for i in tied)
            tied = [i for i in tied if self.costs[i] == cheapest]
        return sorted(tied)

    def runners_up(self, pick: int, n: int) -> list[int]:
        """The ``n`` best evaluated hosts other than ``pick``, best first."""
        rest = sorted(
            (i for i in self.scores if i != pick), key=lambda i: (-self.scores[i], self.costs[i], i)
        )
        return rest[:n]

    def edge(self, pick: int, most: int = 2) -> Edge | None:
        """Why ``pick`` outscored the host predicted to finish first, when it is another one:
        the factors with the largest weighted log advantage w · ln(f_pick / f_fastest) > 0."""
        fastest = min(self.costs, key=lambda i: (self.costs[i], i))
        if fastest == pick or self.costs[fastest] >= self.costs[pick]:
            return None
        self.score(fastest)
        mine, theirs = self.factors[pick], self.factors[fastest]
        gains = []
        for (scorer, w), a, b in zip(self.weighted, mine, theirs, strict=True):
            gain = w * (math.log(max(a, 1e-12)) - math.log(max(b, 1e-12)))
            if gain > 0.0:
                gains.append((gain, scorer.name, a, b))
        gains.sort(key=lambda g: -g[0])
        return fastest, [(name, a, b) for _, name, a, b in gains[:most]]
