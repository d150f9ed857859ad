"""Errors a worker meets while calling its Ollama, each knowing whether another host could succeed.

OllamaError
 ├── OllamaUnavailable      cannot connect / connection refused      (host failure, retry elsewhere)
 ├── OllamaTimeout          no byte for ollama_read_timeout_s         (host failure, retry elsewhere)
 ├── StreamBroken           connection dropped after output began     (host failure)
 └── OllamaHTTPError        Ollama answered with a status >= 400
      ├── ModelMissing      404: this host lacks the model            (routing fact, retry elsewhere)
      ├── OllamaBusy        503: "server busy"                        (host failure, retry elsewhere)
      ├── OllamaClientError other 4xx: the request itself is wrong    (never retried)
      └── OllamaServerError 5xx                                       (host failure, retry elsewhere)
"""

from __future__ import annotations

from sollol.wire import ErrorReason

__all__ = [
    "ModelMissing",
    "OllamaBusy",
    "OllamaClientError",
    "OllamaError",
    "OllamaHTTPError",
    "OllamaServerError",
    "OllamaTimeout",
    "OllamaUnavailable",
    "StreamBroken",
    "http_error",
]


class OllamaError(Exception):
    """Base of every failure talking to Ollama."""

    reason: ErrorReason = ErrorReason.HOST  # what the gateway makes of it (failover, circuit)
    retryable = True  # could another host answer the same request?
    status = 502

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class OllamaUnavailable(OllamaError):
    status = 503


class OllamaTimeout(OllamaError):
    status = 504


class StreamBroken(OllamaError):
    status = 502


class OllamaHTTPError(OllamaError):
    pass


class ModelMissing(OllamaHTTPError):
    reason = ErrorReason.MODEL_MISSING
    status = 404


class OllamaBusy(OllamaHTTPError):
    status = 503


class OllamaClientError(OllamaHTTPError):
    reason = ErrorReason.CLIENT
    retryable = False
    status = 400


class OllamaServerError(OllamaHTTPError):
    status = 500


def http_error(status: int, message: str) -> OllamaHTTPError:
    """The typed error for an Ollama answer with ``status`` >= 400."""
    if status == 404:
        return ModelMissing(message, status)
    if status == 503:
        return OllamaBusy(message, status)
    if 400 <= status < 500:
        return OllamaClientError(message, status)
    return OllamaServerError(message, status)
