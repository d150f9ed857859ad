"""The batch endpoints over a fake Redis: what a client sends and what it gets back (202, 400,
404, 413, 429 in Ollama's error shape), and the tick a new job sends to an idle fleet."""

from __future__ import annotations

import json

import fakeredis
import pytest

from sollol.api.app import create_app
from sollol.config import load_config


class FakeCelery:
    """Records the tasks the gateway sends."""

    def __init__(self):
        self.sent = []

    def send_task(self, name, **options):
        self.sent.append((name, options))


@pytest.fixture
def celery():
    return FakeCelery()


@pytest.fixture
def client(celery):
    cfg = load_config(
        env={},
        batch_max_docs=100,
        batch_max_jobs_queued=2,
        max_body_bytes=4096,
        metrics_enabled=False,
    )
    app = create_app(cfg, redis=fakeredis.FakeRedis(decode_responses=True), celery=celery)
    return app.test_client()


def test_the_original_example_is_accepted_with_the_default_model(client, celery):
    r = client.post("/api/embed/batch", json={"docs": ["Document 1", "Document 2", "Document 3"]})
    assert r.status_code == 202
    job = r.get_json()["job_id"]
    assert r.get_json() == {
        "job_id": job,
        "docs": 3,
        "status_url": f"/api/batch-status/{job}",
        "results_url": f"/api/embed/batch/{job}/results",
    }
    status = client.get(f"/api/batch-status/{job}").get_json()
    assert (status["state"], status["model"], status["priority"]) == (
        "queued",
        "nomic-embed-text",
        2,
    )
    assert [name for name, _ in celery.sent] == ["sollol.batch.tick"]  # idle fleet: start now
    assert celery.sent[0][1]["queue"] == "sollol"


def test_ndjson_upload_with_query_parameters(client):
    body = b'"a"\n{"id": "x", "text": "b", "metadata": {"k": 1}}\n\n"c"\n'
    r = client.post(
        "/api/embed/batch?model=all-minilm&priority=7",
        data=body,
        headers={"Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 202 and r.get_json()["docs"] == 3
    status = client.get(r.get_json()["status_url"]).get_json()
    assert (status["model"], status["priority"]) == ("all-minilm", 7)


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"docs": [{"id": 1}]}, 400, "doc 0"),
        ({"docs": []}, 400, "empty"),
        ({"model": "m"}, 400, "docs is required"),
        ({"docs": ["x"], "priority": 11}, 400, "priority"),
        ({"docs": ["x"] * 101}, 413, "at most 100 docs"),
        ({"docs": ["y" * 5000]}, 413, "NDJSON"),  # JSON beyond max_body_bytes: says what to do
    ],
)
def test_bad_uploads(client, body, status, message):
    r = client.post("/api/embed/batch", data=json.dumps(body))
    assert r.status_code == status
    assert message in r.get_json()["error"]


def test_too_many_unfinished_jobs_is_429_until_one_is_cancelled(client):
    jobs = [
        client.post("/api/embed/batch", json={"docs": ["x"]}).get_json()["job_id"] for _ in range(2)
    ]
    full = client.post("/api/embed/batch", json={"docs": ["x"]})
    assert full.status_code == 429 and full.headers["Retry-After"]
    assert client.delete(f"/api/embed/batch/{jobs[0]}").get_json()["state"] == "cancelled"
    assert client.post("/api/embed/batch", json={"docs": ["x"]}).status_code == 202


def test_unknown_jobs_are_404_everywhere(client):
    for method, path in [
        ("get", "/api/batch-status/nope"),
        ("get", "/api/embed/batch/nope/results"),
        ("delete", "/api/embed/batch/nope"),
    ]:
        r = getattr(client, method)(path)
        assert r.status_code == 404 and "not found" in r.get_json()["error"], path


def test_batch_status_lists_jobs_and_the_autobatch_queue(client):
    client.post("/api/embed/batch", json={"docs": ["a", "b"]})
    body = client.get("/api/batch-status").get_json()
    assert body["autobatch"]["docs_waiting"] == 2 and body["autobatch"]["rounds_in_flight"] == []
    assert [j["total"] for j in body["jobs"]] == [2]
