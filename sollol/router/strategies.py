"""The Router: filter → score → pick.

1. **Filter** (:mod:`sollol.router.capability`, :mod:`sollol.router.filters`): hosts that can
   serve the request at all (the capabilities it needs, the model, health, circuit).
2. **Score** (:mod:`sollol.router.ranking`): each candidate's predicted cost
   (:mod:`sollol.router.estimate`) and the weighted geometric mean of the named factors of
   :mod:`sollol.router.scorers`, weights from :class:`~sollol.router.tuning.Weights`.
3. **Pick** (:mod:`sollol.router.pickers`): one picker per strategy.

Every strategy filters and scores the same way and reports the same factors, prediction and
alternatives, so decisions of different strategies read alike.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from types import MappingProxyType

from sollol.router.capability import capable_hosts
from sollol.router.estimate import Estimator
from sollol.router.explain import reasoning
from sollol.router.filters import eligible_hosts
from sollol.router.model import Alternative, Decision, FleetSnapshot, RequestProfile
from sollol.router.pickers import PICKERS, Pick
from sollol.router.ranking import Ranking, WeightedScorers
from sollol.router.scorers import DEFAULT_SCORERS, Scorer
from sollol.router.tuning import Tuning, Weights

__all__ = ["STRATEGIES", "Router"]

STRATEGIES = tuple(PICKERS)
MAX_ALTERNATIVES = 3


class Router:
    """Routes one request at a time; pure apart from the RNG and the picker's state it owns.

    ``rng`` defaults to ``random.Random(0)`` (deterministic); the gateway passes its own.
    ``scorers`` (default :data:`~sollol.router.scorers.DEFAULT_SCORERS`) are weighted by name
    from ``weights``; a scorer without a weight is a ValueError.
    """

    def __init__(
        self,
        strategy: str = "performance",
        rng: random.Random | None = None,
        weights: Weights | None = None,
        tuning: Tuning | None = None,
        scorers: Sequence[Scorer] = DEFAULT_SCORERS,
    ) -> None:
        if strategy not in PICKERS:
            raise ValueError(
                f"unknown routing strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}"
            )
        self.strategy = strategy
        self.rng = rng if rng is not None else random.Random(0)
        self.weights = weights or Weights()
        self.tuning = tuning or Tuning()
        shares = self.weights.shares([s.name for s in scorers])
        self.scorers: WeightedScorers = tuple(zip(scorers, shares, strict=True))
        self.picker = PICKERS[strategy](self.rng, self.tuning)

    def route(
        self, profile: RequestProfile, snapshot: FleetSnapshot, exclude: Collection[str] = ()
    ) -> Decision:
        """The host for ``profile``; never one in ``exclude``. Raises NoHostAvailable."""
        capable = capable_hosts(snapshot.hosts, profile.model, profile.needs)
        hosts = eligible_hosts(
            capable, profile.model, exclude, self.rng, self.tuning.half_open_share
        )
        est = Estimator(profile, snapshot, self.tuning, peers=hosts)
        ranking = Ranking(profile, snapshot, hosts, est, self.scorers, self.tuning)
        ranking.evaluate()
        return self._decision(profile, ranking, self.picker(profile, snapshot, hosts, ranking))

    def _decision(self, profile: RequestProfile, ranking: Ranking, pick: Pick) -> Decision:
        hosts, i = ranking.hosts, pick.index
        score = ranking.score(i)
        alts = tuple(
            Alternative(
                hosts[j].name,
                round(ranking.scores[j], 4),
                round(ranking.prediction(j).total_s * 1000.0, 1),
            )
            for j in ranking.runners_up(i, MAX_ALTERNATIVES)
        )
        pred = ranking.prediction(i)
        edge = ranking.edge(i) if not pick.rule else None
        text = reasoning(
            self.strategy,
            hosts[i],
            profile.model,
            profile.priority,
            pred=pred,
            others=[(a.host, a.predicted_ms / 1000.0) for a in alts],
            why=pick.rule,
            edge=(hosts[edge[0]].name, edge[1]) if edge is not None else None,
        )
        return Decision(
            host=hosts[i].name,
            score=score,
            strategy=self.strategy,
            predicted_ms=pred.total_s * 1000.0,
            factors=MappingProxyType(ranking.factors_of(i)),
            reasoning=text,
            alternatives=alts,
        )
