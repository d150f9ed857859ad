"""The prompt cache of one runner in the discrete-event model (bench/_des.py), at the
granularity of the router's prompt blocks (``sollol.router.prefix``: 256 characters, 64 tokens).

Same rules as the live simulator (``sollol.sim.prompt_cache``): a free slot whose whole content
starts the prompt is reused, else the least recently used free slot takes a copy of the longest
prefix any slot shares; a displaced slot content goes to a host-memory cache of
``RAM_TOKENS`` (least recently used out) from which a longer shared prefix is restored. Matching
whole blocks only undercounts a shared prefix by less than one block against the simulator.
"""

from __future__ import annotations

from collections.abc import Sequence

from sollol.router.prefix import BLOCK_TOKENS, shared_blocks
from sollol.sim.prompt_cache import RAM_TOKENS

__all__ = ["SlotCaches"]

RAM_BLOCKS = RAM_TOKENS // BLOCK_TOKENS


def _extends(longer: Sequence[int], shorter: Sequence[int]) -> bool:
    return shared_blocks(longer, shorter) == len(shorter)


class SlotCaches:
    """``capacity`` slot caches and a host-memory cache, of block hashes."""

    __slots__ = ("_clock", "blocks", "busy", "ram", "used")

    def __init__(self, capacity: int) -> None:
        n = max(1, capacity)
        self.blocks: list[Sequence[int]] = [()] * n
        self.used = [0] * n
        self.busy = [False] * n
        self.ram: list[Sequence[int]] = []
        self._clock = 0

    def claim(self, prompt: Sequence[int]) -> tuple[int, int]:
        """(slot index, leading blocks of ``prompt`` it holds); a slot must be free."""
        i, shared = self._slot_for(prompt)
        saved = [shared_blocks(t, prompt) for t in self.ram]
        best = max(range(len(saved)), key=saved.__getitem__, default=-1)
        kept = self.blocks[i]
        if best >= 0 and saved[best] > shared:
            shared, kept = saved[best], self.ram.pop(best)
        if self.blocks[i] and not _extends(prompt, self.blocks[i]):
            self._save(self.blocks[i])
        self.blocks[i] = tuple(kept[:shared])
        self._clock += 1
        self.busy[i], self.used[i] = True, self._clock
        return i, shared

    def _slot_for(self, prompt: Sequence[int]) -> tuple[int, int]:
        shared = [shared_blocks(b, prompt) for b in self.blocks]
        if len(self.blocks) == 1:
            return 0, shared[0]
        longest = max(range(len(shared)), key=shared.__getitem__)
        if shared[longest] == len(self.blocks[longest]) and not self.busy[longest]:
            return longest, shared[longest]
        free = [i for i, b in enumerate(self.busy) if not b]
        oldest = min(free, key=self.used.__getitem__)
        if oldest != longest and shared[longest] > shared[oldest]:
            if self.blocks[oldest]:
                self._save(self.blocks[oldest])
            self.blocks[oldest] = tuple(self.blocks[longest][: shared[longest]])
        return oldest, max(shared[longest], shared[oldest])

    def _save(self, blocks: Sequence[int]) -> None:
        self.ram = [t for t in self.ram if not _extends(blocks, t)]
        self.ram.append(blocks)
        while sum(len(t) for t in self.ram) > RAM_BLOCKS and len(self.ram) > 1:
            self.ram.pop(0)

    def store(self, i: int, blocks: Sequence[int]) -> None:
        """The request on slot ``i`` ended: the slot holds ``blocks`` (prompt + answer)."""
        self.blocks[i], self.busy[i] = blocks, False
