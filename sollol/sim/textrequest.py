"""Validation of /api/generate and /api/chat bodies into one :class:`TextRequest`.

The checks and their wording follow Ollama's error catalogue (ollama-api.md §4): unknown model per
endpoint, capability mismatches, ``top_logprobs`` range, raw-mode conflicts, invalid ``format``.
The OpenAI endpoints translate their bodies to native ones and come through here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sollol.sim import physics
from sollol.sim.node import SimNode
from sollol.sim.parsing import field, parse_options, stream_flag
from sollol.sim.profile import ModelSpec
from sollol.sim.protocol import RequestError, dumps, full_model_name, parse_keep_alive
from sollol.sim.residency import LoadConfig
from sollol.sim.textgen import TokenPlan, plan_tokens

__all__ = ["TextRequest", "parse_chat", "parse_generate"]

_THINK_LEVELS = frozenset({"low", "medium", "high", "max"})


@dataclass(frozen=True)
class TextRequest:
    """A validated generate/chat request, ready to run on a node."""

    kind: str  # "generate" or "chat"
    model: str  # exactly as the client sent it (echoed in every response)
    spec: ModelSpec
    prompt: str  # the text prompt evaluation covers
    stream: bool
    options: dict[str, Any]
    keep_alive_s: float
    load_only: bool  # no prompt / no messages: load (or, with keep_alive 0, unload) only
    raw: bool = False

    @property
    def prompt_tokens(self) -> int:
        return physics.count_tokens(self.prompt)

    def plan(self, node: SimNode) -> TokenPlan:
        return plan_tokens(
            node.spec.seed,
            self.spec.name,
            self.prompt,
            self.options.get("seed"),
            self.options.get("num_predict"),
        )

    def config(self, node: SimNode) -> LoadConfig:
        return node.load_config(self.spec, self.options)


def parse_generate(body: dict[str, Any], node: SimNode) -> TextRequest:
    """Validate an /api/generate body (RequestError with Ollama's status and text otherwise)."""
    go = "GenerateRequest"
    model = field(body, "model", str, go, "")
    prompt = field(body, "prompt", str, go, "")
    suffix = field(body, "suffix", str, go, "")
    system = field(body, "system", str, go, "")
    raw = bool(field(body, "raw", bool, go, False))
    images = field(body, "images", list, go, [])
    stream = stream_flag(body, go, True)
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    think = _think(body, go)
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f"model '{model}' not found")
    _require(spec, "completion", f'"{model}" does not support generate')
    if suffix:
        _require(spec, "insert", f"{full_model_name(spec.name)} does not support insert")
    _common_checks(body, spec, model, think, bool(images))
    if raw and (field(body, "template", str, go, "") or system or body.get("context")):
        raise RequestError(400, "raw mode does not support template, system, or context")
    options = parse_options(body, go)
    text = "\n".join(p for p in (system, prompt, suffix) if p)
    return TextRequest(
        "generate",
        model,
        spec,
        text,
        stream,
        options,
        keep_alive,
        load_only=not prompt and not images,
        raw=raw,
    )


def parse_chat(body: dict[str, Any], node: SimNode) -> TextRequest:
    """Validate an /api/chat body (RequestError with Ollama's status and text otherwise)."""
    go = "ChatRequest"
    model = field(body, "model", str, go, "")
    messages = [_message(m) for m in field(body, "messages", list, go, [])]
    tools = field(body, "tools", list, go, [])
    stream = stream_flag(body, go, True)
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    think = _think(body, go)
    if not model.strip():
        raise RequestError(400, "model is required")
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f"model '{model}' not found")
    _require(spec, "completion", f'"{model}" does not support chat')
    if tools:
        _require(spec, "tools", f"{full_model_name(spec.name)} does not support tools")
    _common_checks(body, spec, model, think, any(m.get("images") for m in messages))
    options = parse_options(body, go)
    return TextRequest(
        "chat",
        model,
        spec,
        physics.chat_prompt_text(messages),
        stream,
        options,
        keep_alive,
        load_only=not messages,
    )


def _message(raw: Any) -> dict[str, Any]:
    """One chat message, type-checked like Go decodes ``api.Message``; role lower-cased."""
    if not isinstance(raw, dict):
        raise RequestError(
            400,
            "json: cannot unmarshal into Go struct field ChatRequest.messages of type api.Message",
        )
    go = "Message"
    role = field(raw, "role", str, go, "")
    content = field(raw, "content", str, go, "")
    images = field(raw, "images", list, go, [])
    return {"role": role.lower(), "content": content, "images": images}


def _think(body: dict[str, Any], go: str) -> bool:
    """``think``: a bool or one of the levels; True when thinking was asked for."""
    value = body.get("think")
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value in _THINK_LEVELS:
        return True
    raise RequestError(
        400,
        f"json: cannot unmarshal {dumps(value)} into Go struct field "
        f"{go}.think of type api.ThinkValue",
    )


def _require(spec: ModelSpec, capability: str, message: str) -> None:
    if capability not in spec.capabilities:
        raise RequestError(400, message)


def _common_checks(
    body: dict[str, Any], spec: ModelSpec, model: str, think: bool, images: bool
) -> None:
    """Checks shared by generate and chat: thinking, vision, top_logprobs, format."""
    if think:
        _require(spec, "thinking", f'"{model}" does not support thinking')
    if images:
        _require(spec, "vision", f"{full_model_name(spec.name)} does not support vision")
    top = body.get("top_logprobs")
    if isinstance(top, int) and not isinstance(top, bool) and not 0 <= top <= 20:
        raise RequestError(400, "top_logprobs must be between 0 and 20")
    fmt = body.get("format")
    if not (fmt in (None, "", "json") or isinstance(fmt, dict)):
        raise RequestError(
            500, f'invalid format: {dumps(fmt)}; expected "json" or a valid JSON Schema'
        )
