"""The JavaScript ``ollama`` package (npm, pinned in package.json) under node, pointed at the
gateway: list, a streamed chat and embed. CI installs it (``npm ci``); there a missing node or
package fails the test instead of skipping it."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conformance.conftest import EMBED_DIM, IN_CI

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("js") / "ollama_client.mjs"


def _node() -> str:
    node = shutil.which("node")
    missing = None if node else "node is not installed"
    if node and not (ROOT / "node_modules" / "ollama" / "package.json").exists():
        missing = "the ollama npm package is not installed (run `npm ci` in the repository)"
    if missing:
        if IN_CI:
            pytest.fail(f"CI must run the JavaScript client: {missing}")
        pytest.skip(missing)
    assert node is not None
    return node


def test_js_client_lists_streams_a_chat_and_embeds(gateway):
    node = _node()
    run = subprocess.run(
        [node, str(SCRIPT), gateway.url, "llama3.2", "nomic-embed-text", "9"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert "llama3.2:latest" in out["models"] and "nomic-embed-text:latest" in out["models"]
    assert out["chunks"] > 1 and out["content"].strip()
    assert out["eval_count"] == 9 and out["done_reason"] == "length"
    assert out["embeddings"] == [EMBED_DIM, EMBED_DIM]
