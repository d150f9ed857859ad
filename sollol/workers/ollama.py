"""The worker's HTTP adapter to its local Ollama: pooled keep-alive connections, typed errors,
streamed lines, and calls that another thread can abort at any moment.

Ollama sends its status line only with the first chunk, which can be minutes away (queueing,
model load). So the socket of a call must be reachable before the response starts: a call is
``start``-ed (connect and send), registered, and only then ``wait``-ed for. :meth:`Upstream.abort`
shuts the socket down, which wakes the reading thread at once and makes Ollama drop the request
and free its slot.

``Host`` is the upstream's own address (what Ollama's loopback Host-header check requires);
client headers are never forwarded. Built on http.client: requests cost more CPU per call than the
rest of the worker's hot path and cannot expose the socket before the response.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import select
import socket
import threading
from collections.abc import Generator
from typing import Any
from urllib.parse import urlsplit

from sollol.wire import ErrorReason
from sollol.workers.errors import (
    OllamaError,
    OllamaTimeout,
    OllamaUnavailable,
    StreamBroken,
    http_error,
)

__all__ = ["STREAMING", "OllamaClient", "Upstream"]

STREAMING = {"chat", "generate"}
MAX_LINE = 64 * 1024 * 1024  # the Go client's scanner allows 8 MB; embeddings lines can be larger


class Upstream:
    """One call in flight. ``abort()`` may be called from any thread, before or after headers."""

    def __init__(self, conn: http.client.HTTPConnection) -> None:
        self.conn = conn
        self.response: http.client.HTTPResponse | None = None
        self.aborted = False
        self.reusable = False

    def more_within(self, timeout_s: float) -> bool:
        """True if more of the response can be read within ``timeout_s`` seconds (or if unsure)."""
        sock = self.conn.sock
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock], [], [], timeout_s)
        except (OSError, ValueError):
            return True
        return bool(readable)

    def abort(self) -> None:
        self.aborted = True
        sock = self.conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class OllamaClient:
    """Calls ``base_url`` (an Ollama server) with up to ``pool`` idle keep-alive connections."""

    def __init__(
        self,
        base_url: str,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 300.0,
        pool: int = 8,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "127.0.0.1"
        self._port = parts.port or (443 if self._https else 80)
        self._prefix = parts.path.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._idle: list[http.client.HTTPConnection] = []
        self._max_idle = pool
        self._lock = threading.Lock()

    # --- connections --------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        return cls(self._host, self._port, timeout=self.connect_timeout_s)

    def _release(self, up: Upstream) -> None:
        if up.reusable and not up.aborted:
            with self._lock:
                if len(self._idle) < self._max_idle:
                    self._idle.append(up.conn)
                    return
        up.conn.close()

    # --- calls --------------------------------------------------------------------------------
    def start(self, endpoint: str, body: dict[str, Any], request_id: str = "") -> Upstream:
        """Connect and send ``POST /api/<endpoint>`` (streaming forced on); does not wait for headers.

        ``X-SOLLOL-Request-Id`` travels along: Ollama ignores it, the simulator counts it (that is
        how the chaos benchmark proves nothing ran twice)."""
        payload = dict(body)
        if endpoint in STREAMING:
            payload["stream"] = True  # always stream upstream: liveness, cancellation, timings
        data = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/x-ndjson"}
        if request_id:
            headers["X-SOLLOL-Request-Id"] = request_id
        return self._send("POST", f"/api/{endpoint}", data, headers)

    def _send(
        self, method: str, path: str, data: bytes | None, headers: dict[str, str]
    ) -> Upstream:
        for attempt in (1, 2):  # a pooled connection may have been closed by Ollama meanwhile
            conn = self._connection()
            reused = conn.sock is not None
            up = Upstream(conn)
            try:
                if conn.sock is None:
                    conn.connect()
                conn.sock.settimeout(self.read_timeout_s)
                conn.request(method, self._prefix + path, body=data, headers=headers)
                return up
            except OSError as exc:
                conn.close()
                if reused and attempt == 1:
                    continue
                raise OllamaUnavailable(f"cannot reach Ollama at {self.base_url}: {exc}") from exc
        raise OllamaUnavailable(f"cannot reach Ollama at {self.base_url}")  # pragma: no cover

    def wait(self, up: Upstream) -> None:
        """Block until Ollama's status line; raise the typed error for a status >= 400."""
        try:
            up.response = up.conn.getresponse()
        except TimeoutError as exc:
            up.conn.close()
            raise OllamaTimeout(f"Ollama at {self.base_url} did not answer in time") from exc
        except (OSError, http.client.HTTPException) as exc:
            up.conn.close()
            if up.aborted:
                raise _Aborted("the call was aborted") from None
            raise OllamaUnavailable(
                f"Ollama at {self.base_url} dropped the request: {exc}"
            ) from exc
        if up.response.status >= 400:
            text = up.response.read().decode(errors="replace")
            up.reusable = not up.response.will_close
            self._release(up)
            raise http_error(up.response.status, _error_text(text, up.response))

    def close(self) -> None:
        """Close the idle pooled connections."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def lines(self, up: Upstream) -> Generator[bytes, None, None]:
        """The response body's non-empty lines, translating transport failures into typed errors."""
        assert up.response is not None
        resp = up.response
        try:
            while True:
                line = resp.readline(MAX_LINE)
                if not line:
                    break
                line = line.rstrip(b"\r\n")
                if line:
                    yield line
            up.reusable = not resp.will_close
            resp.close()  # a fully read response must be closed before the socket is reused
        except TimeoutError as exc:
            raise OllamaTimeout(f"Ollama at {self.base_url} went silent mid-request") from exc
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if not up.aborted:
                raise StreamBroken(
                    f"Ollama at {self.base_url} dropped the connection mid-stream: {exc}"
                ) from exc
        finally:
            self._release(up)

    def body(self, up: Upstream) -> bytes:
        """The whole response body (non-streaming endpoints)."""
        return b"\n".join(self.lines(up))

    def get_json(self, path: str, timeout_s: float = 3.0) -> Any:
        """GET a small JSON resource (/api/tags, /api/ps, /api/version) for heartbeats."""
        return json.loads(self._small("GET", path, timeout_s) or b"null")

    def head(self, path: str, timeout_s: float = 3.0) -> None:
        self._small("HEAD", path, timeout_s)

    def _small(self, method: str, path: str, timeout_s: float) -> bytes:
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=timeout_s)
        try:
            conn.request(method, self._prefix + path)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            raise OllamaUnavailable(f"cannot reach Ollama at {self.base_url}: {exc}") from exc
        finally:
            conn.close()
        if resp.status >= 400:
            raise http_error(resp.status, _error_text(data.decode(errors="replace"), resp))
        return data


class _Aborted(OllamaError):
    """The call was aborted on purpose (client gone); not a host failure."""

    reason = ErrorReason.CANCELLED
    retryable = False


def _error_text(text: str, resp: http.client.HTTPResponse) -> str:
    try:
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return str(data["error"])
    except ValueError:
        pass
    return text.strip()[:500] or f"HTTP {resp.status} {resp.reason}"
