"""Streamed responses as Ollama sends them, and the failures that can interrupt them.

Headers go out with the first chunk (so time-to-first-byte includes loading and queueing), every
write is one flushed HTTP chunk, and a crash drops the TCP connection without a final chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn

from aiohttp import web

from sollol.sim.context import FAILED
from sollol.sim.engine import Generation
from sollol.sim.faults import FaultMode
from sollol.sim.node import SimNode

__all__ = ["NDJSON", "SSE", "LazyStream", "cut_point", "drive", "drop_connection"]

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


class LazyStream:
    """A 200 chunked response prepared on its first write."""

    def __init__(self, request: web.Request, content_type: str) -> None:
        self.request = request
        self.content_type = content_type
        self.response: web.StreamResponse | None = None

    async def write(self, data: bytes) -> None:
        if self.response is None:
            resp = web.StreamResponse(status=200)
            resp.content_type = self.content_type
            if self.content_type == SSE:
                resp.headers["Cache-Control"] = "no-cache"
            resp.enable_chunked_encoding()
            await resp.prepare(self.request)
            self.response = resp
        await self.response.write(data)

    async def finish(self) -> web.StreamResponse:
        """End the stream cleanly (the terminating zero-length chunk)."""
        if self.response is None:
            await self.write(b"")
        assert self.response is not None
        await self.response.write_eof()
        return self.response

    async def drop(self) -> NoReturn:
        """Crash: cut the connection mid-stream; no final line, no terminating chunk."""
        await drop_connection(self.request)


async def drop_connection(request: web.Request) -> NoReturn:
    """Abort the TCP connection of ``request`` and end its handler (as a dying server would)."""
    request[FAILED] = True
    transport = request.transport
    if transport is not None:
        transport.abort()
    # The server cancels the handler when it sees the connection lost (handler_cancellation);
    # raising here as well covers the case where it does not.
    await asyncio.sleep(0)
    raise asyncio.CancelledError


def cut_point(node: SimNode, fault: FaultMode, tokens: int) -> int | None:
    """After how many tokens a mid-stream fault strikes, or None when this request has none."""
    if fault in (FaultMode.CRASH_MID_STREAM, FaultMode.ERROR_MID_STREAM):
        return node.faults.cut_point(tokens)
    return None


async def drive(
    gen: Generation,
    cut: int | None,
    emit: Callable[[tuple[str, ...]], Awaitable[None]] | None = None,
) -> bool:
    """Run ``gen`` to its end (True) or to ``cut`` tokens (False), each batch to ``emit``."""
    while batch := await gen.next_batch():
        if cut is not None and gen.produced >= cut:
            keep = len(batch) - (gen.produced - cut)
            gen.produced = cut  # eval_count tells what was actually sent
            if emit is not None and keep > 0:
                await emit(batch[:keep])
            return False
        if emit is not None:
            await emit(batch)
    return True
