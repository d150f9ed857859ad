"""The prompt cache of one runner in the discrete-event model (bench/_des.py), at the
granularity of the router's prompt blocks (``sollol.router.prefix``: 256 characters, 64 tokens).

Same rules as the live simulator (``sollol.sim.prompt_cache``): a free slot whose whole content
starts the prompt is reused, else the least recently used free slot takes a copy of the longest
prefix any slot shares; a displaced slot content goes to a host-memory cache of
``RAM_TOKENS`` (least recently used out) from which a longer shared prefix is restored.

Matching whole blocks would undercount a shared prefix by up to one block (on average half a
block, ~32 tokens: a third of what a cached follow-up evaluates) against the simulator, which
compares characters. A content therefore also carries the key and token count of its exact
text (:class:`Content`): a request that states it continues that text exactly (a
conversation's next turn: the previous prompt and answer, then the new question) gets every
token of it, as llama-server and the simulator give it; other shared prefixes count whole
blocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import NamedTuple

from sollol.router.prefix import BLOCK_TOKENS, shared_blocks
from sollol.sim.prompt_cache import RAM_TOKENS

__all__ = ["Content", "SlotCaches", "text_key"]

RAM_BLOCKS = RAM_TOKENS // BLOCK_TOKENS


class Content(NamedTuple):
    """What a slot holds: block hashes, and the key and token count of the exact text (0, 0
    when only the blocks are known)."""

    blocks: Sequence[int]
    key: int = 0
    tokens: int = 0

    def shared_tokens(self, prompt: Sequence[int], continues: int) -> int:
        """Tokens of this content a prompt of ``prompt`` blocks reuses."""
        if continues and continues == self.key:
            return self.tokens
        return shared_blocks(self.blocks, prompt) * BLOCK_TOKENS

    def cut(self, prompt: Sequence[int], continues: int) -> Content:
        """The part of this content a copy for ``prompt`` keeps."""
        if continues and continues == self.key:
            return self
        return Content(tuple(self.blocks[: shared_blocks(self.blocks, prompt)]))


EMPTY = Content(())


def text_key(text: str) -> int:
    """A stable 64-bit key of ``text``."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _extends(longer: Sequence[int], shorter: Sequence[int]) -> bool:
    return shared_blocks(longer, shorter) == len(shorter)


class SlotCaches:
    """``capacity`` slot caches and a host-memory cache, of :class:`Content`."""

    __slots__ = ("_clock", "busy", "contents", "ram", "used")

    def __init__(self, capacity: int) -> None:
        n = max(1, capacity)
        self.contents: list[Content] = [EMPTY] * n
        self.used = [0] * n
        self.busy = [False] * n
        self.ram: list[Content] = []
        self._clock = 0

    def claim(self, prompt: Sequence[int], continues: int = 0) -> tuple[int, int]:
        """(slot index, tokens of the prompt it holds); a slot must be free. ``continues``: the
        key of the text the prompt extends exactly (0: none)."""
        i, shared = self._slot_for(prompt, continues)
        saved = [t.shared_tokens(prompt, continues) for t in self.ram]
        best = max(range(len(saved)), key=saved.__getitem__, default=-1)
        kept = self.contents[i]
        if best >= 0 and saved[best] > shared:
            shared, kept = saved[best], self.ram.pop(best)
        if self.contents[i].blocks and not _extends(prompt, self.contents[i].blocks):
            self._save(self.contents[i])
        self.contents[i] = kept.cut(prompt, continues)
        self._clock += 1
        self.busy[i], self.used[i] = True, self._clock
        return i, shared

    def _slot_for(self, prompt: Sequence[int], continues: int) -> tuple[int, int]:
        shared = [c.shared_tokens(prompt, continues) for c in self.contents]
        if len(self.contents) == 1:
            return 0, shared[0]
        longest = max(range(len(shared)), key=shared.__getitem__)
        whole = shared_blocks(self.contents[longest].blocks, prompt) == len(
            self.contents[longest].blocks
        )
        if whole and not self.busy[longest]:
            return longest, shared[longest]
        free = [i for i, b in enumerate(self.busy) if not b]
        oldest = min(free, key=self.used.__getitem__)
        if oldest != longest and shared[longest] > shared[oldest]:
            if self.contents[oldest].blocks:
                self._save(self.contents[oldest])
            self.contents[oldest] = self.contents[longest].cut(prompt, continues)
        return oldest, max(shared[longest], shared[oldest])

    def _save(self, content: Content) -> None:
        self.ram = [t for t in self.ram if not _extends(content.blocks, t.blocks)]
        self.ram.append(content)
        while sum(len(t.blocks) for t in self.ram) > RAM_BLOCKS and len(self.ram) > 1:
            self.ram.pop(0)

    def store(self, i: int, content: Content) -> None:
        """The request on slot ``i`` ended: the slot holds ``content`` (prompt + answer)."""
        self.contents[i], self.busy[i] = content, False
