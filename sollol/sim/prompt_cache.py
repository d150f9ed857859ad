"""The prompt cache of one runner's slots, as llama-server (under Ollama) keeps it.

Each of a runner's ``num_parallel`` slots remembers the text it last evaluated: the prompt of its
last request followed by the answer it generated. A new request takes the free slot whose cached
text shares the longest prefix with its prompt (none shared: the least recently used slot) and
evaluates only the rest; the whole prompt cached still evaluates its last token. The cache lives
in the runner: an unload, an eviction or a reload with other options (a new runner) loses it.

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
        """Take a free slot for ``prompt``: (slot index, cached tokens it can skip).

        The free slot with the longest shared prefix wins; with none shared, the least recently
        used. Raises RuntimeError when every slot is busy (callers hold a runner slot first).
        """
        free = [i for i, s in enumerate(self.slots) if not s.busy]
        if not free:
            raise RuntimeError("no free prompt-cache slot")
        shared = {i: common_prefix_len(self.slots[i].text, prompt) for i in free}
        best = max(free, key=lambda i: (shared[i], -self.slots[i].used))
        if shared[best] == 0:
            best = min(free, key=lambda i: self.slots[i].used)
        self._clock += 1
        slot = self.slots[best]
        slot.busy, slot.used = True, self._clock
        return best, shared[best] // CHARS_PER_TOKEN

    def store(self, index: int, text: str) -> None:
        """The request on slot ``index`` ended having evaluated ``text`` (prompt + answer)."""
        slot = self.slots[index]
        slot.text, slot.busy = text, False

    def release(self, index: int) -> None:
        """The request on slot ``index`` ended without a usable cache (failed before evaluating)."""
        slot = self.slots[index]
        slot.text, slot.busy = "", False
