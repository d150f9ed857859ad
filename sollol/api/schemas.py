"""Request validation (marshmallow 4) for the Ollama-native and OpenAI-compatible endpoints.

Schemas validate and then the ORIGINAL body is forwarded, so fields newer than this gateway reach
Ollama untouched (Ollama ignores unknown fields too). What would make Ollama answer 500 — an option
of the wrong type, an invalid ``format`` — is rejected here with 400, because a 500 would be taken
for a host failure and retried on other hosts in vain.

An option whose value is ``null`` is skipped, as Ollama's option parser skips nil values
(LangChain's ``OllamaEmbeddings`` sends ``"num_ctx": null`` and friends). :func:`native_body`
makes the forwarded copy: null options dropped, and on ``/api/embed`` the original SOLLOL's
``{"text": ...}`` read as ``input``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

__all__ = [
    "SCHEMAS",
    "ValidationError",
    "first_error",
    "native_body",
    "validate_body",
]

_INT_OPTIONS = {
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
}
_FLOAT_OPTIONS = {
    "top_p",
    "min_p",
    "typical_p",
    "temperature",
    "repeat_penalty",
    "presence_penalty",
    "frequency_penalty",
}
_BOOL_OPTIONS = {
    "use_mmap",
    "numa",
    "penalize_newline",
    "low_vram",
    "f16_kv",
    "vocab_only",
    "use_mlock",
}
_THINK_LEVELS = ("low", "medium", "high", "max")
_DURATION = re.compile(r"^-?(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^-?0$")


class _Any(fields.Field[Any]):
    """A field that accepts any JSON value; checks are done by ``validate``."""


class _Bool(fields.Field[Any]):
    """A JSON boolean and nothing else (marshmallow's Boolean also takes "yes", 1, "on")."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


def _keep_alive(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError('keep_alive must be a number of seconds or a duration like "5m"')
    if isinstance(value, str) and not _DURATION.match(value.strip()):
        raise ValidationError(f'invalid keep_alive duration {value!r}: use a unit, e.g. "10m"')


def _think(value: Any) -> None:
    if not (isinstance(value, bool) or value in _THINK_LEVELS):
        raise ValidationError("think must be true, false, or one of low, medium, high, max")


def _format(value: Any) -> None:
    if value not in (None, "", "json") and not isinstance(value, dict):
        raise ValidationError('format must be "json" or a JSON schema object')


def _role(value: str) -> None:
    if value.lower() not in ("system", "user", "assistant", "tool"):
        raise ValidationError("role must be one of system, user, assistant, tool")


def _str_list(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError("must be a list of strings")


def _input(value: Any) -> None:
    if isinstance(value, str):
        return
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return
    raise ValidationError("invalid input type: a string or a list of strings")


def _check_option(key: str, value: Any) -> str | None:
    if key in _INT_OPTIONS and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f'option "{key}" must be of type integer'
    if key in _FLOAT_OPTIONS and (isinstance(value, bool) or not isinstance(value, int | float)):
        return f'option "{key}" must be of type float'
    if key in _BOOL_OPTIONS and not isinstance(value, bool):
        return f'option "{key}" must be of type boolean'
    if key == "stop" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return 'option "stop" must be of type array of strings'
    return None


def _options(value: Any) -> None:
    if not isinstance(value, dict):
        raise ValidationError("options must be an object")
    problems = [p for k, v in value.items() if v is not None and (p := _check_option(str(k), v))]
    if problems:
        raise ValidationError(problems)


class _Base(Schema):
    class Meta:
        unknown = EXCLUDE  # like Ollama: unknown fields are ignored (and forwarded)

    model = fields.String(load_default="")
    options = _Any(allow_none=True, validate=_options)
    keep_alive = _Any(allow_none=True, validate=_keep_alive)
    stream = _Bool(allow_none=True)
    format = _Any(allow_none=True, validate=_format)
    think = _Any(allow_none=True, validate=_think)
    truncate = _Bool(allow_none=True)
    shift = _Bool(allow_none=True)
    logprobs = _Bool(allow_none=True)
    top_logprobs = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(0, 20, error="top_logprobs must be between 0 and 20"),
    )


class _ToolCallFunction(Schema):
    class Meta:
        unknown = EXCLUDE

    name = fields.String(required=True)
    arguments = fields.Dict(load_default=dict)


class _ToolCall(Schema):
    class Meta:
        unknown = EXCLUDE

    function = fields.Nested(_ToolCallFunction, required=True)


class _Message(Schema):
    class Meta:
        unknown = EXCLUDE

    role = fields.String(required=True, validate=_role)  # Ollama lower-cases roles on input
    content = fields.String(allow_none=True)
    thinking = fields.String(allow_none=True)
    images = _Any(allow_none=True, validate=_str_list)
    tool_calls = fields.List(fields.Nested(_ToolCall), allow_none=True)
    tool_name = fields.String(allow_none=True)
    tool_call_id = fields.String(allow_none=True)


class ChatRequest(_Base):
    messages = fields.List(fields.Nested(_Message), allow_none=True)
    tools = fields.List(fields.Dict(), allow_none=True)


class GenerateRequest(_Base):
    prompt = fields.String(allow_none=True)
    suffix = fields.String(allow_none=True)
    system = fields.String(allow_none=True)
    template = fields.String(allow_none=True)
    context = fields.List(fields.Integer(strict=True), allow_none=True)
    raw = _Bool(allow_none=True)
    images = _Any(allow_none=True, validate=_str_list)

    @validates_schema
    def _raw_mode(self, data: Mapping[str, Any], **_: Any) -> None:
        if data.get("raw") and (data.get("template") or data.get("system") or data.get("context")):
            raise ValidationError("raw mode does not support template, system, or context")


class EmbedRequest(_Base):
    input = _Any(load_default="", validate=_input)
    text = _Any(allow_none=True, validate=_input)  # the original SOLLOL's name for ``input``
    dimensions = fields.Integer(allow_none=True, strict=True, validate=validate.Range(min=1))


class EmbeddingsRequest(_Base):
    prompt = fields.String(load_default="")


class ShowRequest(Schema):
    class Meta:
        unknown = EXCLUDE

    model = fields.String(load_default="")
    name = fields.String(load_default="")
    verbose = _Bool(allow_none=True)


SCHEMAS: dict[str, Schema] = {
    "chat": ChatRequest(),
    "generate": GenerateRequest(),
    "embed": EmbedRequest(),
    "embeddings": EmbeddingsRequest(),
    "show": ShowRequest(),
}


def first_error(messages: Any, path: str = "") -> str:
    """The first leaf of marshmallow's nested error dict as ``field.sub: message``."""
    if isinstance(messages, dict):
        key, value = next(iter(messages.items()))
        sub = path if key == "_schema" else (f"{path}.{key}" if path else str(key))
        return first_error(value, sub)
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    text = str(messages)
    return (
        f"{path}: {text}"
        if path
        and not text.startswith(
            ("option ", "top_logprobs", "raw mode", "invalid input", "invalid keep_alive")
        )
        else text
    )


def validate_body(endpoint: str, body: Any) -> dict[str, Any]:
    """Validate ``body`` for ``endpoint``; returns the loaded data or raises ValidationError."""
    if not isinstance(body, dict):
        raise ValidationError({"_schema": ["request body must be a JSON object"]})
    loaded: dict[str, Any] = SCHEMAS[endpoint].load(body)
    return loaded


def native_body(endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    """The copy of a validated ``body`` that is forwarded to Ollama (see the module docstring)."""
    out = dict(body)
    options = out.get("options")
    if isinstance(options, dict) and any(v is None for v in options.values()):
        out["options"] = {k: v for k, v in options.items() if v is not None}
    if endpoint == "embed" and out.get("input") is None and out.get("text") is not None:
        out["input"] = out.pop("text")
    return out
