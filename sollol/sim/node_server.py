"""One node's listening socket and fault control: up, down (crashed) and back up on the same port.

``down`` behaves like a box that died: the port stops accepting, every open connection is
aborted (in-flight requests see a reset, their handlers are cancelled and free their slots) and
resident models are lost. Recovery boots the node again on the same port with the profile's
``loaded`` models resident, as its start-up would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress

from aiohttp import web

from sollol.sim.faults import FaultMode
from sollol.sim.node import SimNode
from sollol.sim.server import build_app

__all__ = ["NodeServer"]

_SHUTDOWN_GRACE_S = 0.25  # handlers are already cancelled by the aborted connections
_DOWN_AFTER_ANSWER_S = 0.05  # let the /_sim/fault answer leave before its own socket dies


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class NodeServer:
    """Runs one :class:`SimNode` as an HTTP server on ``host:port`` (port 0 = pick a free one)."""

    def __init__(self, node: SimNode, host: str = "127.0.0.1") -> None:
        self.node = node
        self.host = host
        self.port = node.spec.port
        self._runner: web.AppRunner | None = None
        self._fault_timer: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False

    @property
    def name(self) -> str:
        return self.node.spec.name

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def is_up(self) -> bool:
        return self._runner is not None

    # --- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Boot the node and listen; returns once the port accepts connections."""
        self.node.boot()
        await self._listen()

    async def stop(self) -> None:
        """Close the port and every connection; forget resident models."""
        self._stopped = True
        self._cancel_timer()
        for task in list(self._tasks):
            task.cancel()
        if self._runner is not None:
            await self._close_listener()
        await self.node.crash()

    async def _listen(self) -> None:
        app = build_app(self.node, self, check_host=_is_loopback(self.host))
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=_SHUTDOWN_GRACE_S
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True, backlog=1024)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.port = runner.addresses[0][1]  # the real port when the profile said 0
        self._runner = runner

    async def _close_listener(self) -> None:
        """Stop accepting and abort every open connection at once (no graceful close: a crash)."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        server = runner.server
        for conn in server.connections if server is not None else []:
            if conn.transport is not None:
                conn.transport.abort()
        await runner.cleanup()

    # --- faults -------------------------------------------------------------------------------
    async def set_fault(self, mode: FaultMode, duration_s: float | None = None) -> None:
        """Force ``mode`` (``none`` = back to the profile's rates), for ``duration_s`` if given."""
        async with self._lock:
            self._cancel_timer()
            if mode is FaultMode.DOWN and self.is_up():
                await self._close_listener()
                await self.node.crash()
            elif mode is not FaultMode.DOWN and not self.is_up():
                self.node.boot()
                await self._listen()
            self.node.faults.force(mode, duration_s)
            if duration_s is not None:
                loop = asyncio.get_running_loop()
                self._fault_timer = loop.call_later(duration_s, self._spawn, FaultMode.NONE, None)

    async def recover(self) -> None:
        """Back to normal: listening again if down, no forced fault."""
        await self.set_fault(FaultMode.NONE)

    def request_fault(self, mode: FaultMode, duration_s: float | None) -> None:
        """From this node's own ``/_sim/fault``: applied in the background, ``down`` a moment
        later so the answer can leave before the socket dies."""
        delay = _DOWN_AFTER_ANSWER_S if mode is FaultMode.DOWN else 0.0
        asyncio.get_running_loop().call_later(delay, self._spawn, mode, duration_s)

    def _spawn(self, mode: FaultMode, duration_s: float | None) -> None:
        """Apply a fault change in its own task (timers and handlers must not await it)."""
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self.set_fault(mode, duration_s))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _cancel_timer(self) -> None:
        if self._fault_timer is not None:
            self._fault_timer.cancel()
            self._fault_timer = None

    async def wait_idle(self) -> None:
        """Wait for background fault changes to finish (tests and orderly shutdown)."""
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*self._tasks)
