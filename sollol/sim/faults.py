"""Injected failures: the profile's per-request rates (seeded) and modes forced at run time.

Modes, per inference request:

- ``error``: 500 ``{"error": ...}`` before anything is streamed (a runner that died).
- ``busy``: 503 with Ollama's exact queue-full message.
- ``hang``: the request is accepted and never answered until the client goes away.
- ``crash_mid_stream``: some chunks are sent, then the TCP connection drops with no final line.
- ``error_mid_stream``: some chunks, then Ollama's final ``{"error": ...}`` line on the 200 stream.
- ``down`` (forced only): the node stops listening and drops every connection; see ``node.py``.
"""

from __future__ import annotations

import asyncio
import enum
import random
import time
from collections import Counter
from typing import Any

from sollol.sim import physics
from sollol.sim.profile import FailureSpec
from sollol.sim.protocol import BUSY_MESSAGE, RequestError

__all__ = [
    "ERROR_MESSAGE",
    "FAULT_MODES",
    "MID_STREAM_ERROR",
    "FaultMode",
    "Faults",
    "parse_fault_request",
]

ERROR_MESSAGE = "llama runner process has terminated: exit status 2"
MID_STREAM_ERROR = "an error was encountered while running the model"


class FaultMode(str, enum.Enum):
    NONE = "none"
    ERROR = "error"
    BUSY = "busy"
    HANG = "hang"
    CRASH_MID_STREAM = "crash_mid_stream"
    ERROR_MID_STREAM = "error_mid_stream"
    DOWN = "down"


FAULT_MODES = tuple(m.value for m in FaultMode)


def parse_fault_request(body: Any) -> tuple[FaultMode, float | None]:
    """``{"mode": ..., "duration_s": optional seconds}`` of the control endpoints; 400 otherwise."""
    if not isinstance(body, dict) or body.get("mode") not in FAULT_MODES:
        raise RequestError(400, f"mode must be one of {', '.join(FAULT_MODES)}")
    duration = body.get("duration_s")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int | float) or duration <= 0
    ):
        raise RequestError(400, "duration_s must be a positive number of seconds")
    return FaultMode(body["mode"]), None if duration is None else float(duration)


class Faults:
    """One node's fault state: a forced mode (with optional end) over seeded random draws."""

    def __init__(self, spec: FailureSpec, seed: int) -> None:
        self.spec = spec
        self._rng = random.Random(physics.seed_for("faults", seed))
        self.mode = FaultMode.NONE
        self.until: float | None = None  # time.monotonic() when the forced mode ends
        self.injected: Counter[str] = Counter()

    def force(self, mode: FaultMode, duration_s: float | None = None) -> None:
        """Force ``mode`` for every request (``none`` returns to the profile's random rates)."""
        self.mode = mode
        self.until = None if duration_s is None else time.monotonic() + duration_s

    def draw(self) -> FaultMode:
        """The failure (or NONE) for one inference request; counts what it injects."""
        mode: FaultMode = self.mode if self.mode is not FaultMode.DOWN else FaultMode.NONE
        if mode is FaultMode.NONE:
            mode = self._random_mode()
        if mode is not FaultMode.NONE:
            self.injected[mode.value] += 1
        return mode

    async def before_work(self) -> FaultMode:
        """Draw this request's fault and act on those that strike before any work: raise the
        500/503, or hang until the client goes away. Mid-stream modes are returned to the caller."""
        mode = self.draw()
        if mode is FaultMode.ERROR:
            raise RequestError(500, ERROR_MESSAGE)
        if mode is FaultMode.BUSY:
            raise RequestError(503, BUSY_MESSAGE)
        if mode is FaultMode.HANG:
            await asyncio.Event().wait()  # never set: the handler is cancelled on disconnect
        return mode

    def _random_mode(self) -> FaultMode:
        s = self.spec
        rates = (
            (FaultMode.ERROR, s.error_rate),
            (FaultMode.BUSY, s.busy_rate),
            (FaultMode.HANG, s.hang_rate),
            (FaultMode.CRASH_MID_STREAM, s.crash_mid_stream_rate),
            (FaultMode.ERROR_MID_STREAM, s.error_mid_stream_rate),
        )
        if not any(rate for _, rate in rates):
            return FaultMode.NONE  # the common case draws nothing, keeping the RNG sequence short
        u = self._rng.random()
        for mode, rate in rates:
            if u < rate:
                return mode
            u -= rate
        return FaultMode.NONE

    def cut_point(self, tokens: int) -> int:
        """After how many tokens a mid-stream failure strikes: 1 ≤ k ≤ max(1, tokens // 2)."""
        return self._rng.randint(1, max(1, tokens // 2))
