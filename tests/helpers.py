"""Helpers shared by every test package: waiting on conditions instead of sleeping.

A fixed sleep is either too short on a busy machine (the test fails) or too long on a quiet one
(the suite crawls); polling the condition with a generous deadline is neither.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    what: str | Callable[[], str] = "condition",
    interval: float = 0.01,
) -> T:
    """Poll ``predicate`` every ``interval`` seconds until it returns a truthy value, and return
    that value; fail after ``timeout`` seconds (a generous bound, not an expected duration),
    saying ``what`` was awaited (a callable is asked then, to describe the state at the end)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            desc = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {desc}")
        time.sleep(interval)
