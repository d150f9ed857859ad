"""The worker's HTTP adapter to its local Ollama: one pooled session, typed errors, streamed lines.

``Host`` is always the upstream's own address (requests derives it from the URL), which is what
Ollama's loopback Host-header check requires; client headers are never forwarded.
"""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from sollol.workers.errors import (
    OllamaError,
    OllamaTimeout,
    OllamaUnavailable,
    StreamBroken,
    http_error,
)

__all__ = ["OllamaClient", "Upstream"]

STREAMING = {"chat", "generate"}


class Upstream:
    """One in-flight call; :meth:`abort` (from any thread) makes the reading thread stop at once."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True
        sock = _socket_of(self.response)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.response.close()


def _socket_of(response: requests.Response) -> socket.socket | None:
    with contextlib.suppress(AttributeError):
        fp = response.raw._fp  # http.client.HTTPResponse
        return fp.fp.raw._sock  # type: ignore[no-any-return]
    return None


class OllamaClient:
    """Calls ``base_url`` (an Ollama server) for one worker, with a connection pool of ``pool`` sockets."""

    def __init__(self, base_url: str, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 300.0, pool: int = 8) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def open(self, endpoint: str, body: dict[str, Any]) -> Upstream:
        """POST /api/<endpoint>; returns once Ollama sent its status line (raises on >= 400)."""
        payload = dict(body)
        if endpoint in STREAMING:
            payload["stream"] = True  # always stream upstream: liveness, cancellation, timings
        try:
            resp = self.session.post(f"{self.base_url}/api/{endpoint}", json=payload,
                                     timeout=self.timeout, stream=True)
        except requests.ConnectionError as exc:
            raise OllamaUnavailable(f"cannot reach Ollama at {self.base_url}: {_short(exc)}") from exc
        except requests.Timeout as exc:
            raise OllamaTimeout(f"Ollama at {self.base_url} did not answer in time") from exc
        if resp.status_code >= 400:
            raise http_error(resp.status_code, _error_text(resp))
        return Upstream(resp)

    def lines(self, upstream: Upstream) -> Iterator[bytes]:
        """The response body's non-empty lines, translating transport failures into typed errors."""
        try:
            for line in upstream.response.iter_lines(chunk_size=None):
                if line:
                    yield line
        except requests.exceptions.ChunkedEncodingError as exc:
            raise StreamBroken(f"Ollama at {self.base_url} dropped the connection mid-stream") from exc
        except requests.exceptions.ConnectionError as exc:
            if upstream.aborted:
                return
            if "timed out" in str(exc).lower():
                raise OllamaTimeout(f"Ollama at {self.base_url} went silent mid-request") from exc
            raise StreamBroken(f"Ollama at {self.base_url} dropped the connection: {_short(exc)}") from exc
        except (requests.exceptions.Timeout, TimeoutError) as exc:
            raise OllamaTimeout(f"Ollama at {self.base_url} went silent mid-request") from exc
        except (OSError, ValueError, AttributeError) as exc:
            if upstream.aborted:
                return
            raise StreamBroken(f"Ollama at {self.base_url}: {_short(exc)}") from exc
        finally:
            upstream.response.close()

    def get_json(self, path: str, timeout_s: float = 3.0) -> Any:
        """GET a small JSON resource (/api/tags, /api/ps, /api/version) for heartbeats."""
        try:
            resp = self.session.get(f"{self.base_url}{path}", timeout=timeout_s)
        except requests.RequestException as exc:
            raise OllamaUnavailable(f"cannot reach Ollama at {self.base_url}: {_short(exc)}") from exc
        if resp.status_code >= 400:
            raise http_error(resp.status_code, _error_text(resp))
        try:
            return resp.json()
        except ValueError as exc:
            raise OllamaError(f"Ollama at {self.base_url} sent invalid JSON for {path}") from exc


def _error_text(resp: requests.Response) -> str:
    try:
        text = resp.text
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("error"), str):
            return data["error"]
        return text.strip() or resp.reason
    except ValueError:
        return resp.text.strip()[:500] or f"HTTP {resp.status_code}"


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "…"
