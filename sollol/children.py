"""Child processes that never outlive SOLLOL, whatever thread starts them.

Linux ``PR_SET_PDEATHSIG`` sends the child SIGTERM when its parent dies — even on SIGKILL, when
no cleanup code runs. The kernel ties it to the *thread* that forked, not the process, so a child
started from a short-lived thread (a test helper, a fault injector, a supervisor restart) would be
killed when that thread ends. Every child is therefore forked by one long-lived daemon thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import queue
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

__all__ = ["spawn"]

_PR_SET_PDEATHSIG = 1
_requests: queue.Queue[tuple[list[str], dict[str, Any], Future[subprocess.Popen[bytes]]]] = (
    queue.Queue()
)
_thread: threading.Thread | None = None
_lock = threading.Lock()


def _die_with_parent() -> None:  # runs in the child between fork and exec: async-signal-safe only
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6").prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _spawner() -> None:
    while True:
        argv, kwargs, future = _requests.get()
        try:
            future.set_result(subprocess.Popen(argv, **kwargs))
        except BaseException as exc:  # hand any failure to the caller's thread
            future.set_exception(exc)


def spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **kwargs)`` whose child dies with this process (Linux)."""
    if not sys.platform.startswith("linux"):
        return subprocess.Popen(argv, **kwargs)
    global _thread  # noqa: PLW0603 - one spawner thread per process, started on first use
    with _lock:
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_spawner, name="sollol-spawner", daemon=True)
            _thread.start()
    future: Future[subprocess.Popen[bytes]] = Future()
    _requests.put((argv, {**kwargs, "preexec_fn": _die_with_parent}, future))
    return future.result()
