"""Coalescing a streamed answer's lines: one stream entry (one XADD) per request every few ms.

One XADD per token made Redis and the gateway work once per token: every entry costs the worker
a round trip, Redis a command and the gateway an XREAD wake-up. :class:`ChunkCoalescer` sends
the first line at once (time to first token is untouched), then gathers the lines that arrive
within ``window_s`` of the last entry into one ``chunk`` entry, its lines joined by ``\\n``
(NDJSON lines never contain a raw newline; the gateway splits them again). A gathered line waits
at most ``window_s``: before blocking on Ollama for the next line, :meth:`settle` waits for more
data only until the window closes, then sends what it holds.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sollol.state import StreamWriter
from sollol.wire import EventKind

__all__ = ["COALESCE_S", "ChunkCoalescer"]

COALESCE_S = 0.005  # longest a line waits for company (s); a few ms is invisible per token


class ChunkCoalescer:
    """Gathers one attempt's chunk lines into few stream entries.

    ``more(timeout_s)`` says whether more upstream data arrives within ``timeout_s`` seconds.
    """

    def __init__(
        self,
        writer: StreamWriter,
        more: Callable[[float], bool],
        window_s: float = COALESCE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.writer, self.more, self.window_s, self.clock = writer, more, window_s, clock
        self.pending: list[bytes] = []
        self.sent = 0  # lines already written to the stream
        self._last = -float("inf")  # when the last entry was written (clock s)

    def add(self, line: bytes) -> None:
        """Take one line; write it (with those gathered) if the window since the last entry closed."""
        self.pending.append(line)
        if self.clock() - self._last >= self.window_s:
            self.flush()

    def settle(self) -> None:
        """Before waiting for the next line: wait for it only until the window closes, else flush."""
        if not self.pending:
            return
        left = self._last + self.window_s - self.clock()
        if left <= 0 or not self.more(left):
            self.flush()

    def flush(self) -> None:
        """Write the gathered lines as one ``chunk`` entry (nothing if none)."""
        if not self.pending:
            return
        self.writer.emit(EventKind.CHUNK, b"\n".join(self.pending))
        self.sent += len(self.pending)
        self.pending.clear()
        self._last = self.clock()
