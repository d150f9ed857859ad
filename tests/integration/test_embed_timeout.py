"""Embeddings have their own deadline (the original SOLLOL's embedding_timeout): a hung host
fails an embedding after embed_timeout_s, while chat keeps its longer request_timeout_s."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.conftest import EMBED, make_profile

pytestmark = pytest.mark.integration


def test_an_embedding_on_a_hung_host_times_out_after_embed_timeout_s(live_factory):
    live = live_factory(
        make_profile([{"name": "solo", "models": {"nomic-embed-text": EMBED}}]),
        embed_timeout_s=2.0,
        request_timeout_s=60.0,
    )
    live.fault("solo", "hang")
    try:
        t0 = time.monotonic()
        r = httpx.post(
            live.url + "/api/embed", json={"model": "nomic-embed-text", "input": "x"}, timeout=30
        )
        took = time.monotonic() - t0
    finally:
        live.fault("solo", "none")
    assert r.status_code == 504 and r.json()["error"] == "no answer within 2 s"
    assert took < 10  # the embedding deadline, not the 60 s of chat
