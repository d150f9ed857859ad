"""One live stack for the whole conformance package: its own embedded Redis, two simulated
nodes, a Celery worker per node, beat and a gunicorn gateway — what ``sollol up`` runs.

The real clients in the test extras (and the ``ollama`` npm package under node) are pointed at
the gateway with nothing changed but their base URL; each case checks what came back (exact
token counts under ``num_predict``, JSON that parses and fits its schema, tool calls with the
right name and arguments), not just a status.

The fleet: ``conf-a`` holds a model of every kind; ``conf-b`` holds copies without the
capabilities some requests need, so those requests must be routed to ``conf-a``:

=================  ==========================  ==========================
model              conf-a                      conf-b
=================  ==========================  ==========================
llama3.2           completion, tools           completion (profile-given)
qwen3              completion, tools, thinking –
gemma3             completion, vision          –
llama3             –                           completion (no tools)
nomic-embed-text   embedding (64 dims)         embedding (64 dims)
=================  ==========================  ==========================
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from sollol.config import load_config
from sollol.embedded_redis import RedisNotFound, free_port
from sollol.launcher import Stack
from tests.integration.conftest import FAST

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHAT = {"size_mb": 2000, "load_s": 1.0, "prompt_tps": 4000, "gen_tps": 400}
EMBED = {"size_mb": 300, "load_s": 0.2, "embed_dim": 64, "embed_tps": 8000}
EMBED_DIM = 64
NO_TOOLS = {**CHAT, "capabilities": ["completion"]}


def conformance_profile() -> dict[str, object]:
    """The two-node fleet of the module docstring (ports picked free)."""
    a = {
        "name": "conf-a",
        "port": free_port(),
        "num_parallel": 4,
        "max_loaded_models": 5,
        "models": {"llama3.2": CHAT, "qwen3": CHAT, "gemma3": CHAT, "nomic-embed-text": EMBED},
        "loaded": ["llama3.2", "qwen3", "gemma3", "nomic-embed-text"],
    }
    b = {
        "name": "conf-b",
        "port": free_port(),
        "num_parallel": 4,
        "max_loaded_models": 4,
        "models": {"llama3.2": NO_TOOLS, "llama3": NO_TOOLS, "nomic-embed-text": EMBED},
        "loaded": ["llama3.2", "llama3", "nomic-embed-text"],
    }
    return {"time_scale": 0.02, "nodes": [a, b]}


@dataclass
class Gateway:
    url: str  # http://127.0.0.1:PORT, what a client's base URL becomes
    stack: Stack


@pytest.fixture(scope="package")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """The live stack; stopped (with everything it started) when the package is done."""
    path = Path(tmp_path_factory.mktemp("conformance")) / "fleet.yaml"
    path.write_text(yaml.safe_dump(conformance_profile()))
    cfg = load_config(env={}, port=free_port(), **FAST)
    stack = Stack(cfg, sim_profile=str(path), sim_control_port=free_port())
    try:
        stack.start()
    except RedisNotFound as exc:
        stack.stop()
        if IN_CI:
            pytest.fail(f"CI needs a Redis server and none could be started: {exc}")
        pytest.skip(f"no Redis available: {exc}")
    except Exception:
        stack.stop()
        raise
    threading.Thread(target=stack.supervise, name="supervisor", daemon=True).start()
    yield Gateway(url=f"http://127.0.0.1:{cfg.port}", stack=stack)
    stack.stop()
    stack.cleanup_logs()


WEATHER_TOOL = {
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
# the simulator fills string arguments with the capitalized words of the message after its
# first word, in order: "Paris" is the city; the unit is one of the enum's values
WEATHER_QUESTION = "What is the weather in Paris right now?"
PERSON_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer"},
        "role": {"type": "string", "enum": ["admin", "user"]},
    },
    "required": ["name", "age", "role"],
}
# a 1x1 PNG
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
