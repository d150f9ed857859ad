"""A fleet of simulated nodes in one process: each node a real HTTP server on its own port, all on
one asyncio event loop, plus an optional control server for other processes.

:class:`AsyncSimFleet` runs inside a caller's event loop (the CLI); :class:`SimFleet` runs that
same fleet on a background thread for synchronous callers (tests, benchmarks)::

    with SimFleet(uniform_profile(2, base_port=0, time_scale=0.05)) as fleet:
        ollama.Client(host=fleet.urls["sim-0"]).chat(...)
        fleet.set_fault("sim-1", "down")
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

from aiohttp import web

from sollol.sim.faults import FaultMode
from sollol.sim.ledger import merge_ledgers
from sollol.sim.node import Pacer, SimNode
from sollol.sim.node_server import NodeServer
from sollol.sim.profile import FleetProfile

__all__ = ["AsyncSimFleet", "SimFleet"]

T = TypeVar("T")
_STOP_TIMEOUT_S = 30.0


class AsyncSimFleet:
    """The fleet of ``profile`` on the running event loop; ``control_port`` None = no control
    server, 0 = a free port (see :attr:`control_url`)."""

    def __init__(
        self, profile: FleetProfile, host: str = "127.0.0.1", control_port: int | None = None
    ) -> None:
        self.profile = profile
        self.host = host
        self.control_port = control_port
        self._pacer = Pacer()  # one CPU budget for every node's token loops
        self.servers: dict[str, NodeServer] = {}
        self._control: web.AppRunner | None = None

    async def start(self) -> AsyncSimFleet:
        """Listen on every node's port (and the control port); returns once all accept."""
        try:
            for spec in self.profile.nodes:
                server = NodeServer(SimNode(spec, self.profile.time_scale, self._pacer), self.host)
                self.servers[spec.name] = server
                await server.start()
            if self.control_port is not None:
                await self._start_control()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _start_control(self) -> None:
        from sollol.sim.control import build_control_app

        runner = web.AppRunner(build_control_app(self), access_log=None, shutdown_timeout=0.25)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.control_port, reuse_address=True)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self.control_port = runner.addresses[0][1]
        self._control = runner

    async def stop(self) -> None:
        """Close every port and connection."""
        if self._control is not None:
            await self._control.cleanup()
            self._control = None
        for server in self.servers.values():
            await server.stop()

    async def run(
        self,
        stop: asyncio.Event | None = None,
        on_ready: Callable[[AsyncSimFleet], None] | None = None,
    ) -> None:
        """Serve in the foreground until ``stop`` is set (forever without one), then close."""
        async with self:
            if on_ready is not None:
                on_ready(self)
            await (stop or asyncio.Event()).wait()

    async def __aenter__(self) -> AsyncSimFleet:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # --- access -------------------------------------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        return {name: s.url for name, s in self.servers.items()}

    @property
    def control_url(self) -> str | None:
        return None if self._control is None else f"http://{self.host}:{self.control_port}"

    def node(self, name: str) -> SimNode:
        return self.server(name).node

    def server(self, name: str) -> NodeServer:
        try:
            return self.servers[name]
        except KeyError:
            raise KeyError(f"no node named {name!r}; nodes: {sorted(self.servers)}") from None

    def state(self, name: str) -> dict[str, Any]:
        """The node's ``/_sim/state`` view, available even while it is down."""
        server = self.server(name)
        return {**server.node.snapshot(), "url": server.url, "up": server.is_up()}

    def requests(self) -> dict[str, Any]:
        """Request ids seen across the fleet (see :func:`sollol.sim.ledger.merge_ledgers`)."""
        return merge_ledgers({n: s.node.ledger.snapshot() for n, s in self.servers.items()})

    # --- faults -------------------------------------------------------------------------------
    async def set_fault(
        self, name: str, mode: str | FaultMode, duration_s: float | None = None
    ) -> None:
        """Force a fault mode on node ``name`` (none/error/busy/hang/crash_mid_stream/
        error_mid_stream/down), for ``duration_s`` seconds if given."""
        await self.server(name).set_fault(FaultMode(mode), duration_s)

    async def recover(self, name: str) -> None:
        await self.server(name).recover()


class SimFleet:
    """:class:`AsyncSimFleet` on a background thread with its own event loop; a context manager."""

    def __init__(
        self, profile: FleetProfile, host: str = "127.0.0.1", control_port: int | None = None
    ) -> None:
        self._fleet = AsyncSimFleet(profile, host, control_port)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def profile(self) -> FleetProfile:
        """The profile as served: ports are the real ones once started (0 resolved)."""
        ports = {n: s.port for n, s in self._fleet.servers.items()}
        nodes = tuple(
            dataclasses.replace(n, port=ports.get(n.name, n.port))
            for n in self._fleet.profile.nodes
        )
        return dataclasses.replace(self._fleet.profile, nodes=nodes)

    def start(self) -> SimFleet:
        """Start the loop thread; returns once every node accepts connections."""
        if self._thread is not None:
            raise RuntimeError("this SimFleet is already started")
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="sollol-sim", daemon=True
        )
        self._thread.start()
        try:
            ready.result()
        except BaseException:
            self._thread.join()
            self._thread = None
            raise
        return self

    def _run(self, ready: concurrent.futures.Future[None]) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._fleet.start())
        except BaseException as exc:
            ready.set_exception(exc)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._fleet.stop())
            _cancel_all(loop)
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def stop(self) -> None:
        """Close every port, connection and the loop thread (idempotent)."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        thread.join(_STOP_TIMEOUT_S)
        self._loop = self._thread = None

    def __enter__(self) -> SimFleet:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._loop is None:
            coro.close()
            raise RuntimeError("the fleet is not running; call start() first")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_STOP_TIMEOUT_S)

    async def _state(self, name: str) -> dict[str, Any]:
        return self._fleet.state(name)

    async def _requests(self) -> dict[str, Any]:
        return self._fleet.requests()

    # --- the synchronous API ------------------------------------------------------------------
    @property
    def urls(self) -> dict[str, str]:
        return self._fleet.urls

    @property
    def control_url(self) -> str | None:
        return self._fleet.control_url

    def node(self, name: str) -> SimNode:
        """The node's live state object (read it with :meth:`state` from this thread)."""
        return self._fleet.node(name)

    def state(self, name: str) -> dict[str, Any]:
        """A consistent snapshot of node ``name`` (as ``GET /_sim/state``), taken on the loop."""
        return self._call(self._state(name))

    def requests(self) -> dict[str, Any]:
        return self._call(self._requests())

    def set_fault(self, name: str, mode: str, duration_s: float | None = None) -> None:
        self._call(self._fleet.set_fault(name, mode, duration_s))

    def recover(self, name: str) -> None:
        self._call(self._fleet.recover(name))


def _cancel_all(loop: asyncio.AbstractEventLoop) -> None:
    """Cancel what is still running on ``loop`` and let it unwind."""
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
