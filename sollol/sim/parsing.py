"""Request bodies as Ollama's Go decoder sees them: JSON whatever the Content-Type, Go's error
texts.

Type checks cover the fields the simulator acts on; unknown fields are ignored, like Go does.
Wrong option types fail with 500, as Ollama's option merger does (docs/ollama-api.md §3.1).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from sollol.sim.protocol import RequestError, go_type

__all__ = ["field", "option_value", "parse_options", "read_body", "stream_flag"]

_INT_OPTIONS = frozenset(
    {
        "num_ctx",
        "num_batch",
        "num_gpu",
        "main_gpu",
        "num_thread",
        "num_keep",
        "seed",
        "num_predict",
        "top_k",
        "repeat_last_n",
        "draft_num_predict",
        "mirostat",
    }
)
_FLOAT_OPTIONS = frozenset(
    {
        "top_p",
        "min_p",
        "typical_p",
        "temperature",
        "repeat_penalty",
        "presence_penalty",
        "frequency_penalty",
        "tfs_z",
        "mirostat_tau",
        "mirostat_eta",
    }
)
_BOOL_OPTIONS = frozenset(
    {"use_mmap", "use_mlock", "numa", "penalize_newline", "low_vram", "f16_kv", "vocab_only"}
)
_GO_KINDS = {str: "string", bool: "bool", list: "[]", dict: "map"}


async def read_body(request: web.Request, go_struct: str) -> dict[str, Any]:
    """The JSON object in the body; 400 ``missing request body`` or Go's decoder text otherwise."""
    raw = await request.read()
    if not raw.strip():
        raise RequestError(400, "missing request body")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(400, _syntax_message(raw, exc)) from None
    if not isinstance(body, dict):
        raise RequestError(
            400, f"json: cannot unmarshal {go_type(body)} into Go value of type api.{go_struct}"
        )
    return body


def _syntax_message(raw: bytes, exc: Exception) -> str:
    """Go's wording for a JSON syntax error: ``unexpected EOF`` or ``invalid character 'x' ...``."""
    pos = getattr(exc, "pos", 0)
    text = raw.decode(errors="replace")
    if pos >= len(text.rstrip()):
        return "unexpected EOF"
    return f"invalid character '{text[pos]}' looking for beginning of value"


def field(body: dict[str, Any], key: str, kind: type, go_struct: str, default: Any = None) -> Any:
    """``body[key]`` if it has JSON type ``kind`` (null = absent), else 400 with Go's message."""
    value = body.get(key)
    if value is None:
        return default
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        go_kind = _GO_KINDS.get(kind, "int" if kind is int else "float64")
        raise RequestError(
            400,
            f"json: cannot unmarshal {go_type(value)} into Go struct field "
            f"{go_struct}.{key} of type {go_kind}",
        )
    return value


def stream_flag(body: dict[str, Any], go_struct: str, default: bool) -> bool:
    """``stream``: native endpoints stream when it is absent or null; /v1 ones do not."""
    return bool(field(body, "stream", bool, go_struct, default))


def option_value(key: str, value: Any) -> Any:
    """One option checked against Ollama's type table: 500 on a wrong type, floats truncated."""
    if key in _INT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(500, f'option "{key}" must be of type integer')
        return int(value)
    if key in _FLOAT_OPTIONS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise RequestError(500, f'option "{key}" must be of type float32')
        return float(value)
    if key in _BOOL_OPTIONS:
        if not isinstance(value, bool):
            raise RequestError(500, f'option "{key}" must be of type boolean')
        return value
    if key == "stop":
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            raise RequestError(500, f'option "{key}" must be of type array of strings')
        return value
    return value  # unknown keys: Ollama logs and ignores them


def parse_options(body: dict[str, Any], go_struct: str) -> dict[str, Any]:
    """The request's ``options`` map with every known key type-checked (null values dropped)."""
    raw = field(body, "options", dict, go_struct, {})
    return {k: option_value(k, v) for k, v in raw.items() if v is not None}
