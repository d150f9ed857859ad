"""OpenAI ⇄ Ollama translation as pure functions (one import for both directions)."""

from sollol.api.openai_requests import CompatError, chat_request, completion_request, embed_request
from sollol.api.openai_responses import (
    FINGERPRINT,
    ChatStreamState,
    CompletionStreamState,
    chat_completion,
    completion,
    completion_chunk,
    embeddings_response,
    models_list,
    new_id,
)

__all__ = [
    "FINGERPRINT",
    "ChatStreamState",
    "CompatError",
    "CompletionStreamState",
    "chat_completion",
    "chat_request",
    "completion",
    "completion_chunk",
    "completion_request",
    "embed_request",
    "embeddings_response",
    "models_list",
    "new_id",
]
