"""What a model name says about a model when its profile entry does not: its architecture family,
its capabilities and, for vision models, how many prompt tokens one image costs.

The defaults follow what Ollama reports for these library models (``ollama show``'s
``Capabilities``); a profile's ``family`` and ``capabilities`` keys always win. A name not in the
table is a llama-family model with ``completion`` and ``tools`` (an embedder: ``embedding``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CAPABILITIES", "Family", "family_of", "image_tokens"]

# The capability names Ollama reports (api/show, api/tags).
CAPABILITIES = frozenset(
    {"completion", "tools", "insert", "vision", "embedding", "thinking", "audio", "image"}
)
_CHAT = ("completion",)
_TOOLS = ("completion", "tools")


@dataclass(frozen=True)
class Family:
    """Defaults for the models whose base name starts with one prefix."""

    family: str
    capabilities: tuple[str, ...]


# Longest prefix first where one prefix extends another ("qwen3-vl" before "qwen3"); a prefix
# with a tag matches "name:tag" (gemma3's two smallest sizes have no vision encoder).
_TABLE: tuple[tuple[str, Family], ...] = (
    ("gemma3:1b", Family("gemma3", _CHAT)),
    ("gemma3:270m", Family("gemma3", _CHAT)),
    ("qwen3-vl", Family("qwen3vl", ("completion", "vision", "tools", "thinking"))),
    ("qwen3", Family("qwen3", ("completion", "tools", "thinking"))),
    ("qwen2.5vl", Family("qwen25vl", ("completion", "vision"))),
    ("qwen2.5-coder", Family("qwen2", ("completion", "tools", "insert"))),
    ("qwen2.5", Family("qwen2", _TOOLS)),
    ("qwen2", Family("qwen2", _TOOLS)),
    ("deepseek-r1", Family("qwen3", ("completion", "tools", "thinking"))),
    ("gpt-oss", Family("gptoss", ("completion", "tools", "thinking"))),
    ("llama3.2-vision", Family("mllama", ("completion", "vision"))),
    ("llava", Family("llama", ("completion", "vision"))),
    ("gemma3", Family("gemma3", ("completion", "vision"))),
    ("gemma", Family("gemma2", _CHAT)),
    ("llama3.1", Family("llama", _TOOLS)),
    ("llama3.2", Family("llama", _TOOLS)),
    ("llama3.3", Family("llama", _TOOLS)),
    ("llama", Family("llama", _CHAT)),
    ("mistral", Family("llama", _TOOLS)),
    ("phi", Family("phi3", _CHAT)),
    ("nomic-embed", Family("nomic-bert", ("embedding",))),
    ("mxbai-embed", Family("bert", ("embedding",))),
    ("all-minilm", Family("bert", ("embedding",))),
)
_GENERATIVE = Family("llama", _TOOLS)
_EMBEDDER = Family("nomic-bert", ("embedding",))

# Prompt tokens one image adds, per family: gemma3's SigLIP encoder pools to 256 tokens, llava's
# CLIP ViT-L/14 at 336 px gives 24 x 24 = 576 patches; others take the 768 Ollama itself assumes
# when it truncates a chat with images (server/prompt.go).
_IMAGE_TOKENS = {"gemma3": 256, "llama": 576}
_DEFAULT_IMAGE_TOKENS = 768


def family_of(name: str, embedding: bool) -> Family:
    """Defaults for model ``name`` (any tag or namespace); ``embedding``: it has an ``embed_dim``."""
    tagged = name.rsplit("/", 1)[-1].lower()
    base = tagged.split(":", 1)[0]
    for prefix, family in _TABLE:
        if (tagged if ":" in prefix else base).startswith(prefix):
            if embedding and "embedding" not in family.capabilities:
                return _EMBEDDER
            return family
    return _EMBEDDER if embedding else _GENERATIVE


def image_tokens(family: str) -> int:
    """Prompt tokens one image costs on a vision model of ``family``."""
    return _IMAGE_TOKENS.get(family, _DEFAULT_IMAGE_TOKENS)
