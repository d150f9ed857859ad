"""The workload of bench/policy.py: request classes, Poisson arrival traces and fleet capacity.

A trace is generated once per (profile, seed) at unit rate and scaled to each load level, so
every strategy and every load level sees the same requests in the same order (common random
numbers). Requests go through the real ``analyse_request`` on real-looking bodies.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from _des import Job

from sollol.names import normalize_model
from sollol.router import RequestProfile, analyse_request
from sollol.sim import physics
from sollol.sim.profile import FleetProfile, NodeSpec

__all__ = [
    "CLASSES",
    "Capacity",
    "RequestClass",
    "capacity",
    "make_jobs",
    "priority_of",
    "unit_trace",
]


@dataclass(frozen=True)
class RequestClass:
    name: str
    share: float  # of all requests, before dropping classes no host can serve
    model: str
    endpoint: str  # chat | generate | embed
    instruction: str  # the words the analyser sees; padded to the prompt length
    prompt_median: float  # tokens (log-normal, sigma 0.6)
    output_median: float  # tokens (physics.sample_output_tokens: log-normal, sigma 1, cap 2048)


CLASSES: tuple[RequestClass, ...] = (
    RequestClass("chat", 0.45, "llama3.2", "chat", "Can you help me with this?", 120, 120),
    RequestClass(
        "summarize", 0.08, "llama3.2", "generate", "Summarize the following text.", 1200, 150
    ),
    RequestClass(
        "classify",
        0.05,
        "llama3.2",
        "chat",
        "Classify the sentiment of this review as positive or negative.",
        150,
        8,
    ),
    RequestClass(
        "analysis",
        0.12,
        "llama3.1:8b",
        "chat",
        "Compare these two approaches and explain the trade-offs.",
        300,
        200,
    ),
    RequestClass(
        "code",
        0.15,
        "qwen2.5-coder:7b",
        "chat",
        "Write a python function that does the following.",
        250,
        180,
    ),
    RequestClass("embed", 0.15, "nomic-embed-text", "embed", "", 80, 0),
)

PRIORITY_MIX = ((10, 0.05), (9, 0.05), (5, 0.70), (2, 0.10), (1, 0.10))
SAMPLE_SEED = 12345  # for the Monte-Carlo means in capacity()


def priority_of(rng: random.Random) -> int:
    x, acc = rng.random(), 0.0
    for p, share in PRIORITY_MIX:
        acc += share
        if x < acc:
            return p
    return PRIORITY_MIX[-1][0]


def served_classes(profile: FleetProfile) -> list[tuple[RequestClass, float]]:
    """Classes whose model some node has installed, with shares renormalized to 1."""
    installed = {m for n in profile.nodes for m in n.models}
    keep = [c for c in CLASSES if normalize_model(c.model) in installed]
    total = sum(c.share for c in keep)
    return [(c, c.share / total) for c in keep]


def _text(rng: random.Random, instruction: str, tokens: int) -> str:
    filler = "lorem ipsum dolor sit amet " * (tokens // 6 + 1)
    return (instruction + " " + filler)[: max(len(instruction), tokens * 4)]


def _body(c: RequestClass, rng: random.Random, i: int = 0) -> tuple[str, dict[str, object]]:
    """A request of class ``c``; ``i`` starts its text, so no two prompts share a cached prefix
    (single-turn traffic: nothing for a prompt cache to reuse)."""
    tokens = max(4, round(rng.lognormvariate(math.log(c.prompt_median), 0.6)))
    if c.endpoint == "embed":
        inputs = [
            _text(rng, "", max(4, round(tokens * rng.uniform(0.5, 1.5))))
            for _ in range(rng.randint(1, 8))
        ]
        return "embed", {"model": c.model, "input": inputs}
    text = f"[{i}] " + _text(rng, c.instruction, tokens)
    if c.endpoint == "generate":
        return "generate", {"model": c.model, "prompt": text}
    return "chat", {"model": c.model, "messages": [{"role": "user", "content": text}]}


@dataclass(frozen=True)
class TraceItem:
    gap: float  # unit-rate exponential inter-arrival time
    profile: RequestProfile
    out_tokens: int
    cls: str


def unit_trace(profile: FleetProfile, seed: int, n: int) -> list[TraceItem]:
    """``n`` requests at unit rate: classes, priorities, prompt texts, true output lengths."""
    rng = random.Random(seed)
    classes = served_classes(profile)
    weights = [s for _, s in classes]
    items = []
    for i in range(n):
        c = rng.choices([c for c, _ in classes], weights)[0]
        prio = priority_of(rng)
        endpoint, body = _body(c, rng, i)
        out = physics.sample_output_tokens(rng, median=c.output_median) if c.output_median else 0
        items.append(
            TraceItem(rng.expovariate(1.0), analyse_request(endpoint, body, prio), out, c.name)
        )
    return items


def make_jobs(trace: Sequence[TraceItem], rate: float) -> list[Job]:
    """Jobs arriving at ``rate`` per second (the unit trace's gaps divided by ``rate``)."""
    t, jobs = 0.0, []
    for i, item in enumerate(trace):
        t += item.gap / rate
        jobs.append(Job(i, t, item.profile, item.out_tokens))
    return jobs


@dataclass(frozen=True)
class Capacity:
    per_node: dict[str, float]  # requests/s
    total: float
    mean_prompt: float
    mean_output: float


def _node_rate(node: NodeSpec, mean_prompt: float, mean_output: float) -> float:
    """Requests/s the node sustains with every worker busy on its best resident generative model:
    num_parallel / (prompt + generation time of an average request at num_parallel-way sharing)."""
    best = max(
        (node.models[m] for m in node.loaded if not node.models[m].is_embedding),
        key=lambda s: s.gen_tps,
        default=None,
    )
    if best is None:
        return 0.0
    k = node.num_parallel
    service = physics.prompt_eval_seconds(
        round(mean_prompt), best.prompt_tps, k
    ) + mean_output / physics.per_slot_tps(best.gen_tps, k)
    return k / service


def capacity(profile: FleetProfile) -> Capacity:
    """Fleet capacity in requests/s (see bench/RESULTS.md for the definition)."""
    rng = random.Random(SAMPLE_SEED)
    gen = [(c, s) for c, s in served_classes(profile) if c.output_median]
    total = sum(s for _, s in gen)
    n = 20_000
    mean_out = sum(
        s
        / total
        * sum(physics.sample_output_tokens(rng, median=c.output_median) for _ in range(n))
        / n
        for c, s in gen
    )
    # E[lognormal(median, 0.6)] = median · e^(0.18), plus the role prefix analyse_request counts
    mean_prompt = sum(s / total * c.prompt_median * math.exp(0.18) for c, s in gen)
    per_node = {n.name: _node_rate(n, mean_prompt, mean_out) for n in profile.nodes}
    # embeddings ride along: the total rate at which the generative share alone saturates the fleet
    return Capacity(per_node, sum(per_node.values()) / total, mean_prompt, mean_out)
