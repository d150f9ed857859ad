"""Prompt-prefix awareness: where a request's prompt is probably still in a slot's cache.

Ollama's runner keeps, per slot of a loaded model, the tokens of the last prompt it evaluated
and the answer it generated; a request whose prompt starts with them evaluates only the rest
(a 2,000-token chat history: ~1 s cold on a mid GPU, ~10 ms cached). The gateway cannot see
those caches, so it keeps a record of what it dispatched where:

- a prompt is cut into blocks of :data:`BLOCK_CHARS` characters (:data:`BLOCK_TOKENS` tokens by
  the ~4-characters-a-token estimate), each hashed together with all the blocks before it, so
  equal hashes at position ``i`` mean equal text up to the end of block ``i``;
- :class:`PrefixRecord` holds, per host and model, the block hashes of recently dispatched
  prompts: a prompt replaces the entry it extends, and the least recent entries go once they
  exceed what the runner keeps (its slots plus llama-server's host-memory prompt cache, 8 GiB by
  default: :data:`RECORD_BLOCKS` blocks);
- :func:`prefix_pick` (the ``performance`` picker's first rule) sends a request to the host where
  the cache saves more prompt-evaluation time (cached tokens ÷ the host's prompt rate) than the
  gap between that host's predicted cost and the best host's, while the host is below the load
  cap (``Tuning.affinity_cap``), holds the model and runs it with the request's ``num_ctx``.
  Plain session affinity is the special case of a conversation's previous turn.

Pure: no clock, no I/O, no randomness. :class:`PrefixMatch` reports the expected cached share
as a factor (weight 0 by default: the picker's rule already prices it in seconds).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sollol.router.model import FleetSnapshot, HostState, RequestProfile
    from sollol.router.pickers import Pick
    from sollol.router.ranking import Ranking
    from sollol.router.scorers import ScoringContext
    from sollol.router.tuning import Tuning

__all__ = [
    "BLOCK_CHARS",
    "BLOCK_TOKENS",
    "MAX_BLOCKS",
    "RECORD_BLOCKS",
    "ContextMatch",
    "PrefixMatch",
    "PrefixRecord",
    "cached_tokens",
    "context_matches",
    "prefix_pick",
    "prompt_blocks",
    "shared_blocks",
]

BLOCK_CHARS = 256
BLOCK_TOKENS = BLOCK_CHARS // 4
MAX_BLOCKS = 1024  # 64k tokens: longer prompts are recorded up to here
RECORD_BLOCKS = 1024  # 64k tokens per host and model: ~8 GiB of a 3–8B model's KV cache


def prompt_blocks(text: str) -> tuple[int, ...]:
    """Chained 64-bit hashes of the full ``BLOCK_CHARS`` blocks of ``text`` (a partial last block
    is left out: the next turn's prompt continues it)."""
    out: list[int] = []
    prev = b""
    for start in range(0, min(len(text), MAX_BLOCKS * BLOCK_CHARS) - BLOCK_CHARS + 1, BLOCK_CHARS):
        chunk = text[start : start + BLOCK_CHARS].encode()
        prev = hashlib.blake2b(prev + chunk, digest_size=8).digest()
        out.append(int.from_bytes(prev, "big"))
    return tuple(out)


def shared_blocks(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading blocks ``a`` and ``b`` share (chained hashes: the last equal one)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:  # chained: a[i] == b[i] implies every earlier block is equal too
        mid = (lo + hi + 1) // 2
        if a[mid - 1] == b[mid - 1]:
            lo = mid
        else:
            hi = mid - 1
    return lo


class PrefixRecord:
    """What one host's runners probably hold, per model: block hashes of recently dispatched
    prompts, least recent first, at least ``slots`` of them and at most ``RECORD_BLOCKS`` blocks
    beyond that. Mutable; the gateway owns one per host."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, list[tuple[int, ...]]] = {}

    def cached_blocks(self, model: str, blocks: Sequence[int]) -> int:
        """Leading blocks of ``blocks`` that some recorded prompt of ``model`` shares."""
        return max((shared_blocks(e, blocks) for e in self._entries.get(model, ())), default=0)

    def extends(self, model: str, blocks: Sequence[int]) -> bool:
        """Whether ``blocks`` start with the whole of some recorded prompt of ``model``."""
        return any(shared_blocks(e, blocks) == len(e) for e in self._entries.get(model, ()))

    def record(self, model: str, blocks: tuple[int, ...], slots: int) -> None:
        """``blocks`` were dispatched here: they replace the entry they extend; the least recent
        entries go while more than ``slots`` are kept and they exceed ``RECORD_BLOCKS``."""
        if not blocks:
            return
        entries = self._entries.setdefault(model, [])
        for i, e in enumerate(entries):
            if shared_blocks(e, blocks) == len(e):
                del entries[i]
                break
        entries.append(blocks)
        total = sum(len(e) for e in entries)
        while len(entries) > max(1, slots) and total > RECORD_BLOCKS:
            total -= len(entries.pop(0))

    def forget(self, model: str) -> None:
        """The model left the host (unload, eviction, reload): its slots' caches went with it."""
        self._entries.pop(model, None)

    def models(self) -> tuple[str, ...]:
        return tuple(self._entries)


def context_matches(host: HostState, profile: RequestProfile) -> bool:
    """False when the host's loaded instance of the model runs another ``num_ctx`` than the
    request asks for (Ollama reloads it); True when either is unknown."""
    if profile.num_ctx is None:
        return True
    for m in host.loaded:
        if m.name == profile.model:
            return m.context_length is None or m.context_length == profile.num_ctx
    return True


def cached_tokens(profile: RequestProfile, host: HostState, snapshot: FleetSnapshot) -> int:
    """Prompt tokens of ``profile`` that ``host`` probably holds in a slot's cache (0 when the
    model is not resident there or would be reloaded for another num_ctx).

    The record holds prompts as dispatched, not the answers the slots keep after them: on the
    conversation's previous host (session affinity), a prompt that extends a recorded one is
    also credited the previous answer, at the learned typical output length. Without that, a
    host holding only the shared system prompt looked almost as good as the one holding the
    whole conversation, and 19 % of follow-ups left their cache (8.7 % with plain affinity)."""
    record = snapshot.prefixes.get(host.name)
    if record is None or not profile.prefix_blocks or not host.is_loaded(profile.model):
        return 0
    if not context_matches(host, profile):
        return 0
    blocks, model = profile.prefix_blocks, profile.model
    tokens = record.cached_blocks(model, blocks) * BLOCK_TOKENS
    key = profile.session_key
    if key and snapshot.affinity.get(key) == host.name and record.extends(model, blocks):
        from sollol.router.estimate import expected_output_tokens

        tokens += int(expected_output_tokens(profile, snapshot))
    return min(tokens, max(0, profile.prompt_tokens - 1))


def prefix_pick(
    profile: RequestProfile,
    snapshot: FleetSnapshot,
    hosts: Sequence[HostState],
    ranking: Ranking,
    tuning: Tuning,
) -> Pick | None:
    """The host with the lowest predicted cost once each host's expected cache saving (cached
    tokens ÷ its prompt rate) is taken off, when a saving decided it: None when no host under
    the load cap has a saving, or the best of them does not beat the best host's cost (the score
    decides then)."""
    from sollol.router.pickers import Pick

    if not profile.prefix_blocks:
        return None
    best = ranking.best()
    floor = min(ranking.cost(i) - _saving(profile, hosts[i], snapshot, ranking) for i in best)
    chosen, chosen_cost, chosen_tokens = -1, floor, 0
    for i, h in enumerate(hosts):
        tokens = cached_tokens(profile, h, snapshot)
        if tokens <= 0:
            continue
        ahead = h.running + h.queued_at_or_above(profile.priority)
        if ahead / max(1, h.slots) >= tuning.affinity_cap:
            continue
        cost = ranking.cost(i) - _saving(profile, h, snapshot, ranking)
        if cost < chosen_cost or (i in best and cost <= chosen_cost and chosen < 0):
            chosen, chosen_cost, chosen_tokens = i, cost, tokens
    if chosen < 0:
        return None
    return Pick(
        chosen,
        f"prompt cache: ~{chosen_tokens} of {profile.prompt_tokens} prompt tokens likely cached "
        f"(predicted {chosen_cost:.2f} s with it)",
    )


def _saving(
    profile: RequestProfile, host: HostState, snapshot: FleetSnapshot, ranking: Ranking
) -> float:
    """Seconds of prompt evaluation the host's cache probably saves."""
    tokens = cached_tokens(profile, host, snapshot)
    if tokens <= 0:
        return 0.0
    rate = ranking.est.rates(host, profile.model).prompt_tps
    return ranking.ctx.tuning.prefix_saving_weight * tokens / max(rate, 1e-9)


class PrefixMatch:
    """Expected cached share of the prompt on the host: cached tokens ÷ prompt tokens."""

    name = "prefix"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        total = ctx.profile.prompt_tokens
        return cached_tokens(ctx.profile, host, ctx.snapshot) / total if total > 0 else 0.0


class ContextMatch:
    """1 when the host's loaded instance runs the request's num_ctx (or either is unknown);
    ``Tuning.context_mismatch_factor`` when serving it would reload the model."""

    name = "context"

    def __call__(self, ctx: ScoringContext, host: HostState, cost_s: float) -> float:
        return 1.0 if context_matches(host, ctx.profile) else ctx.tuning.context_mismatch_factor
