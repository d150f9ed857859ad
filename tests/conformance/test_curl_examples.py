"""Plain HTTP, as the READMEs' curl examples send it: the original SOLLOL's ``{"text": ...}`` on
/api/embed, null options, and /api/show answered as metadata (its own task type, top priority)."""

from __future__ import annotations

import httpx
import pytest

from tests.conformance.conftest import EMBED_DIM

pytestmark = pytest.mark.integration


def test_original_sollol_embed_example_embeds_the_text(gateway):
    r = httpx.post(
        f"{gateway.url}/api/embed",
        json={"text": "This is a test document", "model": "nomic-embed-text"},
        timeout=60,
    )
    assert r.status_code == 200
    (vector,) = r.json()["embeddings"]
    direct = httpx.post(
        f"{gateway.url}/api/embed",
        json={"input": "This is a test document", "model": "nomic-embed-text"},
        timeout=60,
    ).json()["embeddings"][0]
    assert len(vector) == EMBED_DIM and vector == direct


def test_null_options_are_ignored_on_every_endpoint(gateway):
    nulls = {"num_ctx": None, "temperature": None, "num_predict": 5}
    chat = httpx.post(
        f"{gateway.url}/api/chat",
        json={
            "model": "llama3.2",
            "messages": [{"role": "user", "content": "hi"}],
            "options": nulls,
            "stream": False,
        },
        timeout=60,
    )
    assert chat.status_code == 200 and chat.json()["eval_count"] == 5


def test_show_is_metadata_not_a_chat(gateway):
    r = httpx.post(f"{gateway.url}/api/show", json={"model": "qwen3"}, timeout=60)
    assert r.status_code == 200
    body = r.json()
    assert "thinking" in body["capabilities"] and "model_info" in body
    routing = body["_sollol_routing"]
    assert routing["task_type"] == "show" and routing["priority"] == 10
