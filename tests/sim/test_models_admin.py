"""Model management on one simulated node, through the official ``ollama`` client: pull (stream
and not), push, create, copy and delete answer as Ollama does and change /api/tags."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import httpx
import ollama
import pytest

from sollol.sim import SimFleet
from sollol.sim.models_admin import MANIFEST_MISSING
from tests.sim.conftest import TIME_SCALE, node

Start = Callable[..., SimFleet]


@pytest.fixture
def client_for(start_fleet: Start) -> Iterator[Callable[..., ollama.Client]]:
    """A client of a fresh node-a (with ``node`` overrides); closed after the test."""
    made: list[ollama.Client] = []

    def make(**overrides: object) -> ollama.Client:
        fleet = start_fleet(node("node-a", **overrides))
        made.append(ollama.Client(host=fleet.urls["node-a"]))
        return made[-1]

    yield make
    for c in made:
        c._client.close()


def _names(client: ollama.Client) -> set[str]:
    return {m.model or "" for m in client.list().models}


def test_streamed_pull_reports_each_layer_then_installs_the_model(
    client_for: Callable[..., ollama.Client],
):
    client = client_for()
    assert "qwen2.5:7b" not in _names(client)
    lines = list(client.pull("qwen2.5:7b", stream=True))
    statuses = [p.status for p in lines]
    assert statuses[0] == "pulling manifest"
    assert statuses[-4:] == [
        "verifying sha256 digest",
        "writing manifest",
        "removing unused layers",
        "success",
    ]
    weights = [p for p in lines if p.digest and p.total and p.total > 4_000 * 2**20]
    assert len(weights) > 2, "the weights layer reports progress more than once"
    assert [p.completed for p in weights] == sorted(p.completed or 0 for p in weights)
    assert weights[-1].completed == weights[-1].total == 4700 * 2**20
    assert weights[0].status == f"pulling {weights[0].digest[7:19]}"
    assert "qwen2.5:7b" in _names(client)
    reply = client.chat(model="qwen2.5:7b", messages=[{"role": "user", "content": "hi"}])
    assert reply.message.content


def test_download_time_follows_the_node_bandwidth(client_for: Callable[..., ollama.Client]):
    client = client_for(pull_mbps=200)  # 4700 MB at 200 Mbit/s: 188 s simulated
    t0 = time.monotonic()
    assert client.pull("qwen2.5:7b", stream=False).status == "success"
    elapsed = time.monotonic() - t0
    expected = 4700 * 2**20 * 8 / 200e6 * TIME_SCALE
    assert expected * 0.9 < elapsed < expected * 3


def test_pull_of_an_unknown_model_fails_as_ollama_does(start_fleet: Start):
    fleet = start_fleet(node("node-a"))
    url = fleet.urls["node-a"]
    streamed = httpx.post(f"{url}/api/pull", json={"model": "no-such-model"})
    assert streamed.status_code == 200
    assert [line for line in streamed.iter_lines() if line] == [
        '{"status":"pulling manifest"}',
        f'{{"error":"{MANIFEST_MISSING}"}}',
    ]
    with ollama.Client(host=url) as client, pytest.raises(ollama.ResponseError) as err:
        client.pull("no-such-model", stream=False)
    assert err.value.status_code == 500 and err.value.error == MANIFEST_MISSING


def test_delete_removes_the_model_and_answers_404_when_absent(
    client_for: Callable[..., ollama.Client],
):
    client = client_for()
    client.chat(model="qwen2.5-coder:7b", messages=[{"role": "user", "content": "hi"}])
    assert client.delete("qwen2.5-coder:7b").status == "success"
    assert "qwen2.5-coder:7b" not in _names(client)
    assert "qwen2.5-coder:7b" not in {m.model for m in client.ps().models}
    with pytest.raises(ollama.ResponseError) as err:
        client.delete("qwen2.5-coder:7b")
    assert err.value.status_code == 404
    assert err.value.error == "model 'qwen2.5-coder:7b' not found"


def test_copy_and_create_make_new_names_from_installed_models(
    client_for: Callable[..., ollama.Client],
):
    client = client_for()
    assert client.copy("llama3.2", "llama-backup").status == "success"
    created = [p.status for p in client.create("my-llama", from_="llama3.2", stream=True)]
    assert created[0] == "reading model metadata" and created[-1] == "success"
    assert {"llama-backup:latest", "my-llama:latest", "llama3.2:latest"} <= _names(client)
    with pytest.raises(ollama.ResponseError) as err:
        client.copy("nothing-here", "x")
    assert err.value.status_code == 404 and err.value.error == 'model "nothing-here" not found'


def test_push_uploads_an_installed_model(client_for: Callable[..., ollama.Client]):
    client = client_for()
    statuses = [p.status for p in client.push("llama3.2", stream=True)]
    assert statuses[0] == "retrieving manifest" and statuses[-2:] == ["pushing manifest", "success"]
