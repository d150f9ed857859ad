"""The prompt cache of one runner's slots, as Ollama's runner keeps it (runner/ollamarunner's
InputCache).

Each of a runner's ``num_parallel`` slots remembers the text it last evaluated: the prompt of its
last request followed by the answer it generated. With one slot, a request takes it and reuses
the prefix it shares. With several (Ollama's multi-user cache), a request takes a free slot whose
whole cached text starts its prompt; otherwise it takes the least recently used free slot and
copies into it the longest prefix any slot shares with the prompt (a fork: the source keeps its
text). Only the rest is evaluated, at least one token. The cache lives in the runner: an unload,
an eviction or a reload with other options (a new runner) loses it.

Tokens are the simulator's estimate (``physics.count_tokens``: ~4 characters a token), so a
shared prefix of ``c`` characters saves ``c // 4`` tokens.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHARS_PER_TOKEN", "PromptCache", "common_prefix_len"]

CHARS_PER_TOKEN = 4


def common_prefix_len(a: str, b: str) -> int:
    """Length in characters of the longest common prefix of ``a`` and ``b`` (binary search over
    ``startswith``, so long prompts compare in C)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if b.startswith(a[:mid]):
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class _Slot:
    text: str = ""
    used: int = 0  # the claim counter when this slot was last taken (LRU order)
    busy: bool = False


class PromptCache:
    """``capacity`` slot caches; :meth:`claim` one for a prompt, :meth:`store` what it evaluated."""

    def __init__(self, capacity: int) -> None:
        self.slots = [_Slot() for _ in range(max(1, capacity))]
        self._clock = 0

    def claim(self, prompt: str) -> tuple[int, int]:
        """Take a slot for ``prompt``: (slot index, cached tokens it can skip).

        Raises RuntimeError when every slot is busy (callers hold a runner slot first).
        """
        free = [i for i, s in enumerate(self.slots) if not s.busy]
        if not free:
            raise RuntimeError("no free prompt-cache slot")
        shared = [common_prefix_len(s.text, prompt) for s in self.slots]
        if len(self.slots) == 1:
            return self._take(0, shared[0])
        longest = max(range(len(self.slots)), key=shared.__getitem__)
        source = self.slots[longest]
        if shared[longest] == len(source.text) and not source.busy:
            return self._take(longest, shared[longest])  # the slot's whole text starts the prompt
        oldest = min(free, key=lambda i: self.slots[i].used)
        self.slots[oldest].text = source.text[: shared[longest]]  # fork the shared prefix
        return self._take(oldest, shared[longest])

    def _take(self, index: int, shared_chars: int) -> tuple[int, int]:
        self._clock += 1
        slot = self.slots[index]
        slot.busy, slot.used = True, self._clock
        return index, shared_chars // CHARS_PER_TOKEN

    def store(self, index: int, text: str) -> None:
        """The request on slot ``index`` ended having evaluated ``text`` (prompt + answer)."""
        slot = self.slots[index]
        slot.text, slot.busy = text, False

    def release(self, index: int) -> None:
        """The request on slot ``index`` ended without a usable cache (failed before evaluating)."""
        slot = self.slots[index]
        slot.text, slot.busy = "", False
