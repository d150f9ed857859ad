"""One node with a model of each kind, for the tests of Ollama's newer request fields: a tools
model, a model without tools, a thinking model, two vision models, a profile-given capability
list and an embedder (capabilities come from the model families unless the profile says)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sollol.sim import SimFleet
from tests.sim.conftest import CHAT, EMBED, make_profile, node

MODELS: dict[str, dict[str, Any]] = {
    "llama3.2": CHAT,  # completion, tools
    "llama3": CHAT,  # completion only
    "qwen3": CHAT,  # completion, tools, thinking
    "gemma3": CHAT,  # completion, vision (256 tokens an image)
    "llava": CHAT,  # completion, vision (576 tokens an image)
    "house-model": {**CHAT, "capabilities": ["completion", "thinking"]},
    "nomic-embed-text": EMBED,
}

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "the city"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
        },
    },
}
ADD = {
    "type": "function",
    "function": {
        "name": "add",
        "description": "Add two integers",
        "parameters": {
            "type": "object",
            "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
            "required": ["a", "b"],
        },
    },
}
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def feature_fleet() -> Iterator[SimFleet]:
    """The node ``node-a`` with :data:`MODELS`; a test module yields from it in its ``fleet``."""
    with SimFleet(make_profile([node("node-a", models=MODELS)]), control_port=None) as f:
        yield f
