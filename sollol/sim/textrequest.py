"""Validation of /api/generate and /api/chat bodies into one :class:`TextRequest`.

The checks and their wording follow Ollama 0.32's handlers (server/routes.go): unknown model per
endpoint, capability mismatches (``"m" does not support thinking``, ``<full name> does not
support tools``), ``top_logprobs`` range, raw-mode conflicts, invalid ``format``. The OpenAI
endpoints translate their bodies to native ones and come through here too.

Thinking: a model with the ``thinking`` capability thinks unless ``think`` is false (Ollama turns
it on when ``think`` is absent); ``true`` means the ``medium`` level.
"""

from __future__ import annotations

import binascii
import string
from dataclasses import dataclass
from typing import Any

from sollol.sim import physics
from sollol.sim.answer import Answer, AnswerSpec, plan_answer
from sollol.sim.families import image_tokens
from sollol.sim.node import SimNode
from sollol.sim.parsing import field, parse_options, stream_flag
from sollol.sim.profile import ModelSpec
from sollol.sim.protocol import RequestError, dumps, full_model_name, go_type, parse_keep_alive
from sollol.sim.residency import LoadConfig

__all__ = ["TextRequest", "parse_chat", "parse_generate"]

_THINK_LEVELS = frozenset({"low", "medium", "high", "max"})
_BASE64 = frozenset(string.ascii_letters + string.digits + "+/=")
# llama-server's message when a prompt does not fit and context shift is off (llm/llama_server.go)
_PROMPT_TOO_LONG = (
    "the prompt is longer than the context length currently available to the model; shorten "
    "the prompt, adjust the context length in settings, or use a model with a longer context "
    "length"
)


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
    think: str | None = None  # the thinking level, None when not thinking
    format: str | dict[str, Any] | None = None
    tools: tuple[dict[str, Any], ...] = ()
    tool_due: bool = False  # tools given and the last message is not a tool result
    last_user: str = ""
    images: int = 0
    logprobs: bool = False
    top_logprobs: int = 0
    shift: bool = True
    prefill: str = ""  # chat: a trailing assistant message, which the answer continues
    answer_prompt: str = ""  # the prompt the answer is seeded by, when not ``prompt``

    @property
    def prompt_tokens(self) -> int:
        """Text tokens plus the image tokens of a vision model (before any context shift)."""
        return physics.count_tokens(self.prompt) + self.images * image_tokens(self.spec.family)

    def evaluated_tokens(self, node: SimNode) -> int:
        """Tokens prompt evaluation covers: a prompt over ``num_ctx - 1`` is shifted down to
        llama-server's first-shift size (keep ``num_keep``+1, drop half the rest), or refused
        with 400 when ``shift`` is false."""
        num_ctx = self.config(node).num_ctx
        tokens = self.prompt_tokens
        if tokens <= num_ctx - 1:
            return tokens
        if not self.shift:
            raise RequestError(400, _PROMPT_TOO_LONG)
        keep = max(0, min(int(self.options.get("num_keep", 4)) + 1, num_ctx - 1))
        return num_ctx - max((num_ctx - keep) // 2, 1)

    def plan(self, node: SimNode) -> Answer:
        return plan_answer(
            AnswerSpec(
                node_seed=node.spec.seed,
                model=self.spec.name,
                prompt=self.answer_prompt or self.prompt,
                options_seed=self.options.get("seed"),
                num_predict=self.options.get("num_predict"),
                think=self.think,
                format=self.format,
                tools=self.tools if self.tool_due else (),
                last_user=self.last_user,
                prefill=self.prefill,
            )
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
    images = _images(field(body, "images", list, go, []), go)
    stream = stream_flag(body, go, True)
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f"model '{model}' not found")
    think = _think(body, go, spec, model)
    _require(spec, "completion", f'"{model}" does not support generate')
    if suffix:
        _require(spec, "insert", f"{full_model_name(spec.name)} does not support insert")
    if raw and (field(body, "template", str, go, "") or system or body.get("context")):
        raise RequestError(400, "raw mode does not support template, system, or context")
    text = "\n".join(p for p in (system, prompt, suffix) if p)
    return TextRequest(
        "generate",
        model,
        spec,
        text,
        stream,
        parse_options(body, go),
        keep_alive,
        load_only=not prompt,  # Ollama loads only when the prompt is empty, images or not
        raw=raw,
        last_user=prompt,
        **_common(body, go, spec, think, images),
    )


def parse_chat(body: dict[str, Any], node: SimNode, relax_thinking: bool = False) -> TextRequest:
    """Validate an /api/chat body (RequestError with Ollama's status and text otherwise).

    ``relax_thinking``: thinking asked of a model without it is dropped instead of refused, as
    Ollama does for its Anthropic endpoint."""
    go = "ChatRequest"
    model = field(body, "model", str, go, "")
    messages = [_message(m) for m in field(body, "messages", list, go, [])]
    tools = _tools(field(body, "tools", list, go, []))
    stream = stream_flag(body, go, True)
    keep_alive = parse_keep_alive(body.get("keep_alive"), node.spec.keep_alive_s)
    if not model.strip():
        raise RequestError(400, "model is required")
    spec = node.find_model(model)
    if spec is None:
        raise RequestError(404, f"model '{model}' not found")
    think = _think(body, go, spec, model, relax_thinking)
    _require(spec, "completion", f'"{model}" does not support chat')
    if tools:
        _require(spec, "tools", f"{full_model_name(spec.name)} does not support tools")
    users = [m["content"] for m in messages if m["role"] == "user"]
    prompt = physics.chat_prompt_text(messages)
    tools_text = "\n" + dumps(tools) if tools else ""  # the template renders the tools
    # a final assistant message is left open by the template: the model continues it
    prefill = messages[-1]["content"] if messages and messages[-1]["role"] == "assistant" else ""
    answer_prompt = physics.chat_prompt_text(messages[:-1]) + tools_text if prefill else ""
    return TextRequest(
        "chat",
        model,
        spec,
        prompt + tools_text,
        stream,
        parse_options(body, go),
        keep_alive,
        load_only=not messages,
        tools=tuple(tools),
        # a tool result is answered in text, and so is an answer already begun (prefill)
        tool_due=bool(tools)
        and bool(messages)
        and messages[-1]["role"] not in ("tool", "assistant"),
        last_user=users[-1] if users else "",
        prefill=prefill,
        answer_prompt=answer_prompt,
        **_common(body, go, spec, think, sum(m["images"] for m in messages)),
    )


def _message(raw: Any) -> dict[str, Any]:
    """One chat message, type-checked like Go decodes ``api.Message``; role lower-cased. An
    assistant's tool calls count in the prompt as their JSON text."""
    if not isinstance(raw, dict):
        raise RequestError(
            400,
            "json: cannot unmarshal into Go struct field ChatRequest.messages of type api.Message",
        )
    go = "Message"
    role = field(raw, "role", str, go, "")
    content = field(raw, "content", str, go, "")
    calls = field(raw, "tool_calls", list, go, [])
    images = _images(field(raw, "images", list, go, []), go)
    text = content + (dumps(calls) if calls else "")
    return {"role": role.lower(), "content": text, "images": images}


def _tools(raw: list[Any]) -> list[dict[str, Any]]:
    for tool in raw:
        if not isinstance(tool, dict):
            raise RequestError(
                400,
                f"json: cannot unmarshal {go_type(tool)} into Go struct field "
                "ChatRequest.tools of type api.Tool",
            )
    return raw


def _images(raw: list[Any], go: str) -> int:
    """How many images; each must be base64 (Go decodes them into []byte)."""
    for image in raw:
        if not isinstance(image, str):
            raise RequestError(
                400, f"json: cannot unmarshal into Go struct field {go}.images of type []uint8"
            )
        try:
            binascii.a2b_base64(image.encode("ascii", "replace"), strict_mode=True)
        except (binascii.Error, ValueError):
            bad = next((i for i, c in enumerate(image) if c not in _BASE64), len(image))
            raise RequestError(400, f"illegal base64 data at input byte {bad}") from None
    return len(raw)


def _think(
    body: dict[str, Any], go: str, spec: ModelSpec, model: str, relax: bool = False
) -> str | None:
    """``think``: a bool or a level → the level, or None; a thinking model thinks by default."""
    value = body.get("think")
    if value is not None and not isinstance(value, bool) and value not in _THINK_LEVELS:
        raise RequestError(
            400,
            f"json: cannot unmarshal {dumps(value)} into Go struct field "
            f"{go}.think of type api.ThinkValue",
        )
    if "thinking" not in spec.capabilities:
        if (value is True or isinstance(value, str)) and not relax:
            raise RequestError(400, f'"{model}" does not support thinking')
        return None
    if value is False:
        return None
    return value if isinstance(value, str) else "medium"


def _require(spec: ModelSpec, capability: str, message: str) -> None:
    if capability not in spec.capabilities:
        raise RequestError(400, message)


def _common(
    body: dict[str, Any], go: str, spec: ModelSpec, think: str | None, images: int
) -> dict[str, Any]:
    """Fields shared by generate and chat: vision, logprobs, format, shift (``truncate`` is
    accepted; the simulator never drops old messages)."""
    if images:
        _require(spec, "vision", f"{full_model_name(spec.name)} does not support vision")
    top = int(field(body, "top_logprobs", int, go, 0))
    if not 0 <= top <= 20:
        raise RequestError(400, "top_logprobs must be between 0 and 20")
    fmt = body.get("format")
    if not (fmt in (None, "", "json") or isinstance(fmt, dict)):
        raise RequestError(
            500, f'invalid format: {dumps(fmt)}; expected "json" or a valid JSON Schema'
        )
    field(body, "truncate", bool, go, True)
    return {
        "think": think,
        "format": None if fmt in (None, "") else fmt,
        "images": images,
        "logprobs": bool(field(body, "logprobs", bool, go, False)),
        "top_logprobs": top,
        "shift": bool(field(body, "shift", bool, go, True)),
    }
