"""Capacity of a fleet per request class, for bench/policy.py's random fleets.

The shipped profiles' capacity (bench/_des_workload.py ``capacity``) counts each node at its
fastest resident model: generous, and blind to a class whose model only a slow node can hold
(a random fleet with the coder on a CPU box alone is overloaded at any "load" of that
definition). Here the load a fleet sustains is a linear programme over classes × nodes:

    maximize λ  subject to
        Σ_n x[c, n] = λ · share_c                       every class c is served
        Σ_c x[c, n] · S[c, n] ≤ num_parallel_n           worker-seconds per second on node n
        x[embed, n] · S[embed, n] ≤ 1                    an embedder runner has one slot
        x[c, n] = 0 unless model(c) is in node n's resident set

``x[c, n]`` in requests/s, ``S[c, n]`` the seconds one average request of class ``c`` holds a
worker of ``n`` with every slot busy (prompt at ``num_parallel``-way sharing plus generation at
the shared rate; an embedding: its tokens at the embedder's rate). A node's resident set is a
maximal set of its installed models that fits its memory budget and ``max_loaded_models``
together; the capacity is the best λ over every combination of the nodes' sets (the best static
residency: no time is lost to loads). λ is in requests/s of the whole mix, embeddings included.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from _des_workload import RequestClass, served_classes
from scipy.optimize import linprog

from sollol.names import normalize_model
from sollol.sim import physics
from sollol.sim.profile import FleetProfile, NodeSpec
from sollol.sim.scheduler import memory_budget_mb

__all__ = ["ClassCapacity", "class_capacity", "resident_sets"]

SAMPLE_SEED = 2024
EMBED_INPUTS = 4.5  # mean of randint(1, 8)
MAX_COMBINATIONS = 20_000


@dataclass(frozen=True)
class ClassCapacity:
    total: float  # requests/s of the whole mix at full load
    resident: dict[str, tuple[str, ...]]  # node → the resident set of the best combination
    per_node: dict[str, float]  # node → requests/s it serves at full load


def resident_sets(node: NodeSpec) -> list[frozenset[str]]:
    """Maximal sets of the node's installed models that fit its memory and model count."""
    budget = memory_budget_mb(node.vram_mb)
    names = sorted(node.models)
    fits = [
        frozenset(s)
        for r in range(1, min(len(names), node.max_loaded_models) + 1)
        for s in itertools.combinations(names, r)
        if sum(node.models[m].size_mb for m in s) <= budget
    ]
    return [s for s in fits if not any(s < t for t in fits)] or [frozenset()]


def _means(c: RequestClass) -> tuple[float, float]:
    """(mean prompt tokens, mean output tokens) of class ``c``."""
    prompt = c.prompt_median * math.exp(0.18)
    if c.endpoint == "embed":
        return prompt * EMBED_INPUTS, 0.0
    rng = random.Random(f"{SAMPLE_SEED}-{c.name}")
    out = sum(physics.sample_output_tokens(rng, median=c.output_median) for _ in range(20_000))
    return prompt, out / 20_000


def _service_s(node: NodeSpec, c: RequestClass, prompt: float, out: float) -> float:
    spec = node.models[normalize_model(c.model)]
    if spec.is_embedding:
        return prompt / spec.embed_tps
    k = node.num_parallel
    return physics.prompt_eval_seconds(round(prompt), spec.prompt_tps, k) + out / (
        physics.per_slot_tps(spec.gen_tps, k)
    )


def _solve(
    nodes: Sequence[NodeSpec],
    sets: Sequence[frozenset[str]],
    classes: Sequence[tuple[RequestClass, float]],
    service: dict[tuple[int, int], float],
) -> tuple[float, np.ndarray]:
    """(λ, x) of the linear programme for one combination of resident sets."""
    pairs = [
        (ci, ni)
        for ci, (c, _) in enumerate(classes)
        for ni in range(len(nodes))
        if normalize_model(c.model) in sets[ni] and (ci, ni) in service
    ]
    if {ci for ci, _ in pairs} != set(range(len(classes))):
        return 0.0, np.zeros(0)
    nv = len(pairs) + 1  # x[pairs] then λ
    a_eq = np.zeros((len(classes), nv))
    for j, (ci, _) in enumerate(pairs):
        a_eq[ci, j] = 1.0
    a_eq[:, -1] = [-share for _, share in classes]
    rows = []
    bounds = []
    for ni, n in enumerate(nodes):
        row = np.zeros(nv)
        for j, (ci, nj) in enumerate(pairs):
            if nj == ni:
                row[j] = service[(ci, ni)]
        rows.append(row)
        bounds.append(float(n.num_parallel))
        for j, (ci, nj) in enumerate(pairs):
            if nj == ni and classes[ci][0].endpoint == "embed":
                one = np.zeros(nv)
                one[j] = service[(ci, ni)]
                rows.append(one)
                bounds.append(1.0)
    cost = np.zeros(nv)
    cost[-1] = -1.0
    res = linprog(cost, A_ub=np.array(rows), b_ub=bounds, A_eq=a_eq, b_eq=np.zeros(len(classes)))
    if not res.success:
        return 0.0, np.zeros(0)
    x = np.zeros((len(classes), len(nodes)))
    for j, (ci, ni) in enumerate(pairs):
        x[ci, ni] = res.x[j]
    return float(res.x[-1]), x


def class_capacity(profile: FleetProfile) -> ClassCapacity:
    """The fleet's capacity for the single-turn mix (see the module docstring)."""
    nodes = list(profile.nodes)
    classes = served_classes(profile)
    means = [_means(c) for c, _ in classes]
    service = {
        (ci, ni): _service_s(n, c, *means[ci])
        for ci, (c, _) in enumerate(classes)
        for ni, n in enumerate(nodes)
        if normalize_model(c.model) in n.models
    }
    options = [resident_sets(n) for n in nodes]
    combos = itertools.islice(itertools.product(*options), MAX_COMBINATIONS)
    best, best_x, best_sets = 0.0, np.zeros(0), tuple(frozenset[str]() for _ in nodes)
    for sets in combos:
        lam, x = _solve(nodes, sets, classes, service)
        if lam > best:
            best, best_x, best_sets = lam, x, sets
    per_node = {
        n.name: float(best_x[:, ni].sum()) if best_x.size else 0.0 for ni, n in enumerate(nodes)
    }
    resident = {n.name: tuple(sorted(s)) for n, s in zip(nodes, best_sets, strict=True)}
    return ClassCapacity(best, resident, per_node)
