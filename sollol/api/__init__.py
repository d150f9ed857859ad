"""The Flask gateway: Ollama-native and OpenAI-compatible endpoints routed over the fleet."""

from sollol.api.app import create_app

__all__ = ["create_app"]
