"""Ollama's wire formats: timestamps, NDJSON lines, error bodies, durations and model-name forms.

Everything here is pure and synchronous except the small aiohttp response builders at the end,
so the simulator's handlers (native and OpenAI) share one definition of each format
(docs/ollama-api.md §1).
"""

from __future__ import annotations

import json
import math
import re
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

__all__ = [
    "BUSY_MESSAGE",
    "FOREVER_S",
    "OLLAMA_VERSION",
    "RequestError",
    "dumps",
    "error_response",
    "expires_at",
    "full_model_name",
    "go_type",
    "json_response",
    "metrics",
    "ndjson_line",
    "parse_go_duration",
    "parse_keep_alive",
    "rfc3339_local",
    "rfc3339_utc",
    "text_response",
    "with_default_tag",
]

OLLAMA_VERSION = "0.32.15"
# Ollama's scheduler-queue-full message; the two spaces are Ollama's (docs/ollama-api.md §1.2).
BUSY_MESSAGE = "server busy, please try again.  maximum pending requests exceeded"
FOREVER_S = math.inf  # keep_alive < 0: the model stays loaded until evicted
# Go's time.Now().Add(math.MaxInt64): where an infinite keep_alive puts expires_at (~292 years).
_GO_MAX_DURATION_NS = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class RequestError(Exception):
    """A request Ollama refuses: HTTP ``status`` and the ``{"error": message}`` text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- JSON --------------------------------------------------------------------------------------


def dumps(obj: Any) -> str:
    """Compact JSON like Go's encoder (no spaces, UTF-8 kept as is)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ndjson_line(obj: Any) -> bytes:
    """One NDJSON record: a compact object and one ``\\n``; never a blank line."""
    return (dumps(obj) + "\n").encode()


def metrics(**values: int) -> dict[str, int]:
    """The final-object metrics, integer nanoseconds/counts, zero values left out (Go omitempty)."""
    return {k: int(v) for k, v in values.items() if int(v) != 0}


# --- timestamps --------------------------------------------------------------------------------


def _fraction(ns: int) -> str:
    """Go's RFC3339Nano fraction: up to 9 digits, trailing zeros trimmed, none when zero."""
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    return f".{frac}" if frac else ""


def rfc3339_utc(epoch_ns: int | None = None) -> str:
    """``created_at``: UTC with up to 9 fractional digits, e.g. ``2026-08-21T18:48:22.1234567Z``."""
    ns = time.time_ns() if epoch_ns is None else epoch_ns
    base = _EPOCH + timedelta(seconds=ns // 1_000_000_000)
    return base.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(ns) + "Z"


def rfc3339_local(epoch_ns: int) -> str:
    """``modified_at``/``expires_at``: the server's local offset (``-07:00``, or ``Z`` at UTC)."""
    secs = epoch_ns // 1_000_000_000
    # localtime() cannot represent Go's far-future "forever"; such dates use today's offset.
    probe = min(secs, int(time.time()) + 10 * 365 * 86400)
    offset = time.localtime(probe).tm_gmtoff
    local = _EPOCH + timedelta(seconds=secs + offset)
    if offset == 0:
        zone = "Z"
    else:
        sign = "-" if offset < 0 else "+"
        zone = f"{sign}{abs(offset) // 3600:02d}:{abs(offset) % 3600 // 60:02d}"
    return local.strftime("%Y-%m-%dT%H:%M:%S") + _fraction(epoch_ns) + zone


def expires_at(now_ns: int, keep_alive_s: float) -> str:
    """``expires_at`` of a model idle from now: now + keep_alive, or Go's far future (forever)."""
    if math.isinf(keep_alive_s):
        return rfc3339_local(now_ns + _GO_MAX_DURATION_NS)
    return rfc3339_local(now_ns + int(keep_alive_s * 1e9))


# --- durations ---------------------------------------------------------------------------------

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_TERM = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Go's ``time.ParseDuration`` in seconds (``"1h30m"``, ``"-1m"``, ``"0"``); ValueError in Go's
    words."""
    s = text
    sign = -1.0 if s.startswith("-") else 1.0
    s = s[1:] if s[:1] in "+-" and s else s
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f'time: invalid duration "{text}"')
    total_ns, pos = 0.0, 0
    for m in _GO_TERM.finditer(s):
        if m.start() != pos:
            break
        total_ns += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(s):
        if re.fullmatch(r"\d+\.?\d*", s):
            raise ValueError(f'time: missing unit in duration "{text}"')
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total_ns / 1e9


def parse_keep_alive(value: Any, default_s: float) -> float:
    """Request ``keep_alive`` in seconds: number = seconds, string = Go duration, < 0 = forever.

    Absent/null gives ``default_s`` (OLLAMA_KEEP_ALIVE). Raises :class:`RequestError` 400 with
    Go's decoder text for anything else, as Ollama does.
    """
    if value is None:
        return default_s
    if isinstance(value, bool):
        raise RequestError(400, "json: cannot unmarshal bool into Go value of type string")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_go_duration(value)
        except ValueError as exc:
            raise RequestError(400, str(exc)) from None
    else:
        raise RequestError(
            400, f"json: cannot unmarshal {go_type(value)} into Go value of type string"
        )
    return FOREVER_S if seconds < 0 else seconds


def go_type(value: Any) -> str:
    """The JSON type name Go's decoder uses in its errors (``string``, ``number``, ``array``...)."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    for kind, name in ((str, "string"), (list, "array"), (dict, "object")):
        if isinstance(value, kind):
            return name
    return "null"


# --- model names -------------------------------------------------------------------------------


def with_default_tag(name: str) -> str:
    """``name`` as sent, with ``:latest`` appended when its last path part has no tag."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def full_model_name(normalized: str) -> str:
    """The form Ollama prints in capability errors: ``registry.ollama.ai/library/x:tag``."""
    return f"registry.ollama.ai/{normalized if '/' in normalized else 'library/' + normalized}"


# --- aiohttp responses -------------------------------------------------------------------------


def json_response(obj: Any, status: int = 200, openai: bool = False) -> web.Response:
    """Non-stream JSON with Content-Length: gin's ``application/json; charset=utf-8``, or the
    plain ``application/json`` Ollama's OpenAI middleware sets."""
    return web.Response(
        body=dumps(obj).encode(),
        status=status,
        content_type="application/json",
        charset=None if openai else "utf-8",
    )


def error_response(status: int, message: str) -> web.Response:
    """Ollama's native error: ``{"error": message}`` with the given status."""
    return json_response({"error": message}, status)


def text_response(status: int, text: str) -> web.Response:
    """gin's plain-text bodies (``404 page not found``, ``Ollama is running``)."""
    resp = web.Response(body=text.encode(), status=status)
    resp.headers["Content-Type"] = "text/plain" if status >= 400 else "text/plain; charset=utf-8"
    return resp
