"""The multi-turn workload of bench/policy.py (``--workload multi_turn``): chat conversations
and RAG sessions whose prompts share prefixes, so a prompt cache can pay.

- **Conversations** (70 % of sessions): 2–12 turns (uniform); one of three long shared system
  prompts (≈ 600, 1,200 and 2,000 tokens) or, for a quarter of them, a short own one; each turn
  sends the whole history (every earlier question and answer) plus a new question of 15–150
  tokens; answers are log-normal around 150 tokens.
- **RAG sessions** (30 %): 1–3 questions about one of six shared documents (1,500–3,000 tokens)
  placed first in the prompt, after a shared instruction; answers around 120 tokens.
- **Think time** between a session's requests: log-normal, median 12 s (σ 0.8, at least 2 s),
  counted from the previous request's arrival (open loop: a turn never waits for its answer,
  which at 50–75 % load has almost always arrived).

Sessions start as a Poisson process at ``rate / mean requests per session``. Texts are built
and analysed with the real ``analyse_request``; a job keeps its prompt blocks (in its profile)
and the blocks of its prompt followed by its answer (what its slot holds afterwards), not the
text. The model is ``llama3.2`` (the chat model every shipped profile installs).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from _des import Job
from _des_cache import Content, text_key
from _des_workload import Capacity, _node_rate

from sollol.router import analyse_request
from sollol.router.prefix import prompt_blocks
from sollol.sim import physics
from sollol.sim.profile import FleetProfile
from sollol.sim.prompt_cache import CHARS_PER_TOKEN

__all__ = ["capacity", "multi_turn_jobs"]

MODEL = "llama3.2"
CONVERSATION_SHARE = 0.7
MEAN_REQUESTS = CONVERSATION_SHARE * 7.0 + (1 - CONVERSATION_SHARE) * 2.0  # per session
SAMPLE_SEED = 4242
_WORDS = (
    "the of and to in is for on that with as by this from at model data node request cache "
    "prompt token answer question history system document fleet route queue slot load time "
    "value result error state host user server client memory speed batch stream"
)
_VOCAB = tuple(_WORDS.split(" "))


def words(seed: object, tokens: int) -> str:
    """``tokens`` tokens (≈ 4 characters each) of seeded filler words."""
    rng = random.Random(physics.seed_for("words", seed))
    out: list[str] = []
    size = 0
    while size < tokens * 4:
        w = rng.choice(_VOCAB)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)[: tokens * 4]


SYSTEMS = tuple(
    f"You are assistant persona {k}. " + words(("system", k), n)
    for k, n in enumerate((600, 1200, 2000))
)
DOCUMENTS = tuple(words(("doc", k), n) for k, n in enumerate((1500, 1800, 2100, 2400, 2700, 3000)))
RAG_INSTRUCTION = "Answer the question using only the document below.\n\nDocument:\n"


@dataclass(frozen=True)
class _Request:
    arrival: float
    messages: tuple[tuple[str, str], ...]
    answer: str
    out_tokens: int
    priority: int


def _out(rng: random.Random, median: float) -> int:
    return physics.sample_output_tokens(rng, median=median)


def _think(rng: random.Random) -> float:
    return max(2.0, rng.lognormvariate(math.log(12.0), 0.8))


def _conversation(rng: random.Random, sid: int, t: float) -> list[_Request]:
    pick = rng.random()
    system = SYSTEMS[int(pick * 4)] if pick < 0.75 else f"Session {sid}. " + words(sid, 80)
    history: list[tuple[str, str]] = [("system", system)]
    out = []
    for turn in range(rng.randint(2, 12)):
        history.append(("user", words((sid, turn, "q"), rng.randint(15, 150))))
        n = _out(rng, 150)
        answer = words((sid, turn, "a"), n)
        out.append(_Request(t, tuple(history), answer, n, 5))
        history.append(("assistant", answer))
        t += _think(rng)
    return out


def _rag(rng: random.Random, sid: int, t: float) -> list[_Request]:
    doc = DOCUMENTS[rng.randrange(len(DOCUMENTS))]
    out = []
    for q in range(rng.randint(1, 3)):
        question = words((sid, q, "rag"), rng.randint(15, 60))
        content = f"{RAG_INSTRUCTION}{doc}\n\nQuestion: {question}"
        n = _out(rng, 120)
        out.append(_Request(t, (("user", content),), words((sid, q, "ra"), n), n, 5))
        t += _think(rng)
    return out


def _sessions(seed: int, rate: float, duration: float) -> list[_Request]:
    rng = random.Random(seed)
    t, sid, reqs = 0.0, 0, []
    session_rate = rate / MEAN_REQUESTS
    while True:
        t += rng.expovariate(session_rate)
        if t >= duration:
            break
        sid += 1
        make = _conversation if rng.random() < CONVERSATION_SHARE else _rag
        reqs += [r for r in make(rng, sid, t) if r.arrival < duration]
    return sorted(reqs, key=lambda r: r.arrival)


def _job(i: int, r: _Request) -> Job:
    body = {"model": MODEL, "messages": [{"role": a, "content": c} for a, c in r.messages]}
    profile = analyse_request("chat", body, r.priority)
    text = physics.chat_prompt_text(body["messages"])  # the text the node evaluates
    done = f"{text}\nassistant: {r.answer}"  # what its slot holds once answered
    after = Content(prompt_blocks(done), text_key(done), len(done) // CHARS_PER_TOKEN)
    # a follow-up's prompt is the previous turn's prompt and answer, then the new question
    previous = physics.chat_prompt_text(body["messages"][:-1]) if len(r.messages) > 2 else ""
    return Job(i, r.arrival, profile, r.out_tokens, after, text_key(previous) if previous else 0)


def multi_turn_jobs(seed: int, rate: float, duration: float) -> list[Job]:
    """The jobs of sessions starting in [0, duration) at ``rate`` requests/s, by arrival."""
    return [_job(i, r) for i, r in enumerate(_sessions(seed, rate, duration))]


def capacity(profile: FleetProfile) -> Capacity:
    """Requests/s of this workload the fleet sustains without any prompt cache (each node's
    fastest resident chat model, every slot busy, whole prompts evaluated)."""
    sample = _sessions(SAMPLE_SEED, 1.0, 4000.0)
    mean_prompt = sum(
        physics.count_tokens(
            physics.chat_prompt_text([{"role": a, "content": c} for a, c in r.messages])
        )
        for r in sample
    ) / len(sample)
    mean_out = sum(r.out_tokens for r in sample) / len(sample)
    per_node = {n.name: _node_rate(n, mean_prompt, mean_out) for n in profile.nodes}
    return Capacity(per_node, sum(per_node.values()), mean_prompt, mean_out)


def describe(profile: FleetProfile, seq: Sequence[Job] = ()) -> str:
    cap = capacity(profile)
    nodes = ", ".join(f"{n} {r:.2f}/s" for n, r in cap.per_node.items())
    return (
        f"multi-turn capacity: {cap.total:.2f} requests/s without a prompt cache ({nodes}; "
        f"mean prompt {cap.mean_prompt:.0f} tokens, mean output {cap.mean_output:.0f})"
    )
