"""Helpers of the live tests that send requests with API keys (test_keys, test_fair_share)."""

from __future__ import annotations

from typing import Any

import httpx

from sollol.config import load_config
from sollol.state.connection import connect
from sollol.state.keys import KeyStore


def key_store(live: Any) -> KeyStore:
    """The key store of the live stack's Redis (the one `sollol keys` writes)."""
    cfg = load_config(env={}, redis_url=live.cfg.redis_url)
    return KeyStore(connect(cfg), cfg)


def generate(
    url: str, key: str, tokens: int = 5, priority: int = 5, prompt: str = "hello"
) -> httpx.Response:
    """A non-streamed /api/generate of ``tokens`` tokens with ``key`` as the bearer."""
    return httpx.post(
        f"{url}/api/generate?priority={priority}",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
        json={
            "model": "llama3.2",
            "prompt": prompt,
            "stream": False,
            "options": {"num_predict": tokens},
        },
    )
