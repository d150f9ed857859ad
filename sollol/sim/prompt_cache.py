"""The prompt cache of one runner, as Ollama's llama-server keeps it: one cache per slot plus a
host-memory cache of displaced prompts.

Each of a runner's ``num_parallel`` slots remembers the text it last evaluated: the prompt of its
last request followed by the answer it generated. With one slot, a request takes it. With
several, a request takes a free slot whose whole cached text starts its prompt; otherwise the
least recently used free slot, copying into it the longest prefix any slot shares (a fork).
When a slot's text is displaced by a prompt that does not extend it, the text is saved to the
host-memory cache (llama-server's ``--cache-ram``, 8 GiB by default: about
:data:`RAM_TOKENS` tokens of a 3–8B model's KV cache, least recently used first out); a request
whose prompt shares a longer prefix with a saved text than with any slot restores it instead.
Only the rest is evaluated, at least one token. Everything lives in the runner: an unload, an
eviction or a reload with other options (a new runner) loses it.

Tokens are the simulator's estimate (``physics.count_tokens``: ~4 characters a token), so a
shared prefix of ``c`` characters saves ``c // 4`` tokens. A restore is free (a copy from host
memory takes milliseconds).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHARS_PER_TOKEN", "RAM_TOKENS", "PromptCache", "common_prefix_len"]

CHARS_PER_TOKEN = 4
RAM_TOKENS = 65536  # 8 GiB of host memory at ~0.12 MiB of KV cache per token


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
    """``capacity`` slot caches and a host-memory cache of ``ram_tokens``; :meth:`claim` a slot
    for a prompt, :meth:`store` what it evaluated."""

    def __init__(self, capacity: int, ram_tokens: int = RAM_TOKENS) -> None:
        self.slots = [_Slot() for _ in range(max(1, capacity))]
        self.ram: list[str] = []  # displaced texts, least recently used first
        self.ram_chars = ram_tokens * CHARS_PER_TOKEN
        self._clock = 0

    def claim(self, prompt: str) -> tuple[int, int]:
        """Take a slot for ``prompt``: (slot index, cached tokens it can skip).

        Raises RuntimeError when every slot is busy (callers hold a runner slot first).
        """
        free = [i for i, s in enumerate(self.slots) if not s.busy]
        if not free:
            raise RuntimeError("no free prompt-cache slot")
        index, shared = self._slot_for(prompt, free)
        slot = self.slots[index]
        saved = [common_prefix_len(t, prompt) for t in self.ram]
        best = max(range(len(saved)), key=saved.__getitem__, default=-1)
        kept = slot.text
        if best >= 0 and saved[best] > shared:  # restore from host memory
            shared, kept = saved[best], self.ram.pop(best)
        if slot.text and not prompt.startswith(slot.text):
            self._save(slot.text)  # displaced
        slot.text = kept[:shared]
        self._clock += 1
        slot.busy, slot.used = True, self._clock
        return index, shared // CHARS_PER_TOKEN

    def _slot_for(self, prompt: str, free: list[int]) -> tuple[int, int]:
        """(slot, characters of the prompt it will hold before evaluating)."""
        shared = [common_prefix_len(s.text, prompt) for s in self.slots]
        if len(self.slots) == 1:
            return 0, shared[0]
        longest = max(range(len(self.slots)), key=shared.__getitem__)
        source = self.slots[longest]
        if shared[longest] == len(source.text) and not source.busy:
            return longest, shared[longest]  # the slot's whole text starts the prompt
        oldest = min(free, key=lambda i: self.slots[i].used)
        if oldest != longest and shared[longest] > shared[oldest]:
            old = self.slots[oldest].text
            if old:
                self._save(old)
            self.slots[oldest].text = source.text[: shared[longest]]  # fork the shared prefix
        return oldest, max(shared[longest], shared[oldest])

    def _save(self, text: str) -> None:
        """Keep ``text`` in host memory (dropping saved texts it extends), within the budget."""
        self.ram = [t for t in self.ram if not text.startswith(t)]
        self.ram.append(text)
        while sum(len(t) for t in self.ram) > self.ram_chars and len(self.ram) > 1:
            self.ram.pop(0)

    def store(self, index: int, text: str) -> None:
        """The request on slot ``index`` ended having evaluated ``text`` (prompt + answer)."""
        slot = self.slots[index]
        slot.text, slot.busy = text, False
