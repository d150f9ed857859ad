"""Has the client hung up? A look at the request's socket, without reading from it.

A request waiting in a host's queue writes nothing to its client, so the usual way of noticing a
departed client (a failed write) only works once a worker has started the request on a GPU. The
relay asks this probe between its Redis reads instead: a socket that is readable and has nothing
to read has been closed by the peer. Data waiting (a pipelined request) means the client is
still there. Under gunicorn the socket is ``environ["gunicorn.socket"]``; without one (Flask's
test client, other servers) the probe always answers "still there".
"""

from __future__ import annotations

import select
import socket
from collections.abc import Callable
from typing import Any

__all__ = ["client_probe", "still_there"]


def still_there() -> bool:
    """The probe of a request without a socket: the client is never known to be gone."""
    return False


def client_probe(environ: dict[str, Any]) -> Callable[[], bool]:
    """A no-argument check, True once the client of this WSGI request closed its connection."""
    sock = environ.get("gunicorn.socket")
    if not isinstance(sock, socket.socket):
        return still_there

    def gone() -> bool:
        # poll, not select: a gateway holding 1000 requests has descriptors past select's 1024
        # (gevent patches poll as well, so this never blocks the hub)
        try:
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            ready = poller.poll(0)
            if not ready:
                return False
            if ready[0][1] & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                return True
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except (OSError, ValueError):  # reset by the peer, or already closed here
            return True

    return gone
