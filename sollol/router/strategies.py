"""The Router: filter → score → pick, with one pick rule per strategy.

- ``performance``: highest score, a weighted geometric mean of the factors in
  :mod:`sollol.router.scorers` led by predicted completion time (:mod:`sollol.router.estimate`);
  a conversation goes back to its previous host (session affinity) while that host holds the
  model and is under ``Tuning.affinity_cap``.
- ``priority``: least (running + queued at ≥ p) per slot, a cold model counting as one more slot
  of work (priority-aware least loaded, no learned rates).
- ``least_connections``: least running + queued (Envoy's least-request with full knowledge);
  ties broken at random.
- ``round_robin``: next eligible host in turn (the turn is the Router's only state).
- ``random``: uniform among eligible hosts, from the RNG passed in.

Every strategy filters the same way and reports the same factors, prediction and alternatives,
so decisions of different strategies read alike.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from types import MappingProxyType

from sollol.router import scorers
from sollol.router.estimate import Estimator
from sollol.router.explain import reasoning
from sollol.router.filters import eligible_hosts
from sollol.router.model import Alternative, Decision, FleetSnapshot, HostState, RequestProfile
from sollol.router.ranking import Ranking
from sollol.router.tuning import Tuning, Weights

__all__ = ["STRATEGIES", "Router"]

STRATEGIES = ("performance", "round_robin", "random", "least_connections", "priority")
MAX_ALTERNATIVES = 3


class Router:
    """Routes one request at a time; pure apart from the RNG and the round-robin turn it owns.

    ``rng`` defaults to ``random.Random(0)`` (deterministic); the gateway passes its own.
    """

    def __init__(
        self,
        strategy: str = "performance",
        rng: random.Random | None = None,
        weights: Weights | None = None,
        tuning: Tuning | None = None,
    ) -> None:
        if strategy not in STRATEGIES:
            raise ValueError(
                f"unknown routing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        self.strategy = strategy
        self.rng = rng if rng is not None else random.Random(0)
        self.weights = weights or Weights()
        self.tuning = tuning or Tuning()
        self._exponents = self.weights.exponents()
        self._turn = 0

    def route(
        self, profile: RequestProfile, snapshot: FleetSnapshot, exclude: Collection[str] = ()
    ) -> Decision:
        """The host for ``profile``; never one in ``exclude``. Raises NoHostAvailable."""
        hosts = eligible_hosts(
            snapshot.hosts, profile.model, exclude, self.rng, self.tuning.half_open_share
        )
        est = Estimator(profile, snapshot, self.tuning, peers=hosts)
        ranking = Ranking(profile, hosts, est, self._exponents, self.tuning)
        ranking.evaluate()
        pick, why = self._pick(profile, snapshot, hosts, ranking)
        return self._decision(profile, ranking, pick, why)

    # --- picking ------------------------------------------------------------------------------
    def _pick(
        self,
        profile: RequestProfile,
        snapshot: FleetSnapshot,
        hosts: Sequence[HostState],
        ranking: Ranking,
    ) -> tuple[int, str]:
        """Index of the chosen host and the rule that chose it ("" = the score)."""
        s = self.strategy
        if s in ("performance", "priority"):
            sticky = self._affinity(profile, snapshot, hosts)
            if sticky is not None:
                return sticky, "session affinity"
        if s == "performance":
            return ranking.best(), ""
        if s == "round_robin":
            self._turn += 1
            return (self._turn - 1) % len(hosts), "next in turn"
        if s == "random":
            return self.rng.randrange(len(hosts)), "uniform draw"
        if s == "least_connections":
            return self._least([h.running + h.queued_total for h in hosts]), "least connections"
        p, model = profile.priority, profile.model
        return self._least(
            [
                (h.running + h.queued_at_or_above(p) + 1) / max(1, h.slots)
                + (0.0 if h.is_loaded(model) else 1.0)
                for h in hosts
            ]
        ), "least loaded at this priority"

    def _least(self, keys: Sequence[float]) -> int:
        low = min(keys)
        ties = [i for i, k in enumerate(keys) if k == low]
        return ties[0] if len(ties) == 1 else ties[self.rng.randrange(len(ties))]

    def _affinity(
        self, profile: RequestProfile, snapshot: FleetSnapshot, hosts: Sequence[HostState]
    ) -> int | None:
        """The conversation's previous host, while it holds the model and is under the cap."""
        name = snapshot.affinity.get(profile.session_key) if profile.session_key else None
        if name is None:
            return None
        for i, h in enumerate(hosts):
            if h.name == name:
                ahead = h.running + h.queued_at_or_above(profile.priority)
                if h.is_loaded(profile.model) and ahead / max(1, h.slots) < (
                    self.tuning.affinity_cap
                ):
                    return i
                return None
        return None

    # --- the answer ---------------------------------------------------------------------------
    def _decision(self, profile: RequestProfile, ranking: Ranking, pick: int, why: str) -> Decision:
        hosts, est = ranking.hosts, ranking.est
        score = ranking.score(pick)
        alts = tuple(
            Alternative(
                hosts[i].name,
                round(ranking.scores[i], 4),
                round(est.predict(hosts[i]).total_s * 1000.0, 1),
            )
            for i in ranking.runners_up(pick, MAX_ALTERNATIVES)
        )
        pred = est.predict(hosts[pick])
        text = reasoning(
            self.strategy,
            hosts[pick],
            profile.model,
            profile.priority,
            pred=pred,
            others=[(a.host, a.predicted_ms / 1000.0) for a in alts],
            why=why,
        )
        return Decision(
            host=hosts[pick].name,
            score=score,
            strategy=self.strategy,
            predicted_ms=pred.total_s * 1000.0,
            factors=MappingProxyType(
                dict(zip(scorers.FACTORS, ranking.factors[pick], strict=True))
            ),
            reasoning=text,
            alternatives=alts,
        )
