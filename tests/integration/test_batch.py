"""Batch embedding jobs on the live stack: submit, autobatch chords over every host, progress,
results in input order with every doc exactly once (also when a worker dies), cancel, limits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import CHAT, EMBED, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MODEL = "nomic-embed-text"
HOSTS = ("ea", "eb")
MAX_DOCS = 5000


@pytest.fixture(scope="module")
def live(live_factory):
    nodes = [
        {
            "name": name,
            "num_parallel": 2,
            "models": {"llama3.2": CHAT, MODEL: EMBED},
            "loaded": ["llama3.2", MODEL],
        }
        for name in HOSTS
    ]
    return live_factory(
        make_profile(nodes, time_scale=0.05),
        autobatch_interval_s=0.5,
        autobatch_max_batch_size=200,
        batch_max_docs=MAX_DOCS,
        batch_max_jobs_queued=4,
    )


@pytest.fixture(autouse=True)
def no_jobs_left(live):
    """Each test starts with no unfinished job (the queued-jobs limit is per fleet)."""
    yield
    for job in live.get("/api/batch-status")["jobs"]:
        if job["state"] in ("loading", "queued", "running"):
            httpx.delete(f"{live.url}/api/embed/batch/{job['job_id']}", timeout=10)


def _texts(n, tag="doc"):
    """Texts of ~50 tokens, so a chunk of 200 keeps a simulated host busy for ~0.1 s."""
    return [f"{tag} {i}: " + "lorem ipsum dolor sit amet " * 7 for i in range(n)]


def _submit(live, body, **kw):
    return httpx.post(f"{live.url}/api/embed/batch", json=body, timeout=60, **kw)


def _wait_done(live, job, timeout=90):
    status = {}

    def finished():
        nonlocal status
        status = live.get(f"/api/batch-status/{job}")
        return status["state"] not in ("loading", "queued", "running")

    wait_for(finished, timeout, f"batch job {job} to finish")
    return status


def _results(live, job, **params):
    r = httpx.get(f"{live.url}/api/embed/batch/{job}/results", params=params, timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in r.text.splitlines()]


def _direct(live, texts, node="ea"):
    """Vectors straight from a simulated node (the reference each batch vector must equal)."""
    port = next(n["port"] for n in live.profile["nodes"] if n["name"] == node)
    r = httpx.post(
        f"http://127.0.0.1:{port}/api/embed", json={"model": MODEL, "input": texts}, timeout=60
    )
    return r.json()["embeddings"]


def test_original_readme_example_works_verbatim(live):
    r = _submit(live, {"docs": ["Document 1", "Document 2", "Document 3"]})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["docs"] == 3 and body["status_url"] == f"/api/batch-status/{body['job_id']}"
    status = _wait_done(live, body["job_id"])
    assert (status["state"], status["done"], status["total"], status["model"]) == (
        "done",
        3,
        3,
        MODEL,  # no model given: the configured default embedding model
    )
    got = _results(live, body["job_id"])
    assert [g["id"] for g in got] == ["0", "1", "2"]
    assert [g["embedding"] for g in got] == _direct(
        live, ["Document 1", "Document 2", "Document 3"]
    )


def test_a_big_job_runs_as_chords_over_every_host_in_input_order(live):
    texts = _texts(2000)
    docs = [{"id": f"d{i}", "text": t} for i, t in enumerate(texts)]
    job = _submit(live, {"model": MODEL, "docs": docs}).json()["job_id"]
    before = {h: _embeds(live, h) for h in HOSTS}
    status = _wait_done(live, job)
    assert status["state"] == "done" and status["done"] == 2000 and status["failed"] == 0
    assert status["docs_per_s"] > 0
    got = _results(live, job)
    assert [g["id"] for g in got] == [d["id"] for d in docs]  # every id once, in input order
    sample = [0, 1, 777, 1999]
    assert [got[i]["embedding"] for i in sample] == _direct(live, [texts[i] for i in sample])
    used = [h for h in HOSTS if _embeds(live, h) > before[h]]
    assert used == list(HOSTS), "both hosts should have embedded chunks"


def _embeds(live, host):
    """Requests a simulated node has answered (its own counter)."""
    port = next(n["port"] for n in live.profile["nodes"] if n["name"] == host)
    state = httpx.get(f"http://127.0.0.1:{port}/_sim/state", timeout=10).json()
    return int(state["requests"]["completed"])


def test_results_page_by_offset_and_limit(live):
    job = _submit(live, {"docs": _texts(30)}).json()["job_id"]
    _wait_done(live, job)
    page = _results(live, job, offset=10, limit=5)
    assert [p["id"] for p in page] == ["10", "11", "12", "13", "14"]


def test_ndjson_upload_is_streamed_and_keeps_ids_and_metadata(live):
    lines = [
        json.dumps({"id": f"n{i}", "text": t, "metadata": {"i": i}})
        for i, t in enumerate(_texts(1200))
    ]
    r = httpx.post(
        f"{live.url}/api/embed/batch?model={MODEL}&priority=3",
        content=("\n".join(lines) + "\n").encode(),
        headers={"Content-Type": "application/x-ndjson"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
    job = r.json()["job_id"]
    status = _wait_done(live, job)
    assert status["priority"] == 3 and status["done"] == 1200
    got = _results(live, job, offset=1199, limit=1)
    assert got[0]["id"] == "n1199" and got[0]["metadata"] == {"i": 1199}
    chunks = live.redis.keys(live.cfg.key("batch", "docs", job, "*"))
    assert len(chunks) == 3, "1200 docs are stored as three values of at most 500 docs"


def test_worker_killed_mid_job_every_doc_answered_exactly_once(live):
    texts = _texts(4000, "kill")
    job = _submit(live, {"docs": texts}).json()["job_id"]
    wait_for(lambda: live.get(f"/api/batch-status/{job}")["done"] > 200, 60, "the job to start")
    victim = next(c for c in live.stack.children if c.name == "worker-ea")
    os.kill(victim.proc.pid, signal.SIGKILL)
    status = _wait_done(live, job, timeout=120)
    assert (status["state"], status["done"], status["failed"]) == ("done", 4000, 0)
    got = _results(live, job, limit=4000)
    assert [g["id"] for g in got] == [str(i) for i in range(4000)]
    stored = sum(
        live.redis.hlen(k) for k in live.redis.keys(live.cfg.key("batch", "res", job, "*"))
    )
    assert stored == 4000, "no vector is stored twice"
    sample = [0, 1500, 3999]
    assert [got[i]["embedding"] for i in sample] == _direct(live, [texts[i] for i in sample])


def test_cancel_stops_a_job(live):
    job = _submit(live, {"docs": _texts(4000, "cancel")}).json()["job_id"]
    r = httpx.delete(f"{live.url}/api/embed/batch/{job}", timeout=10)
    assert r.status_code == 200 and r.json()["state"] == "cancelled"
    done = live.get(f"/api/batch-status/{job}")["done"]

    def settled():
        return live.get("/api/batch-status")["autobatch"]["rounds_in_flight"] == []

    wait_for(settled, 30, "the rounds of the cancelled job to end")
    final = live.get(f"/api/batch-status/{job}")
    assert final["state"] == "cancelled" and final["done"] < 4000
    assert final["done"] >= done


def test_limits_answer_413_and_429_in_ollamas_error_shape(live):
    too_many = _submit(live, {"docs": ["x"] * (MAX_DOCS + 1)})
    assert too_many.status_code == 413
    assert f"at most {MAX_DOCS} docs" in too_many.json()["error"]
    stuck = [_submit(live, {"model": "no-such-embedder", "docs": ["a"]}) for _ in range(4)]
    assert [s.status_code for s in stuck] == [202] * 4
    full = _submit(live, {"docs": ["b"]})
    assert full.status_code == 429 and "unfinished" in full.json()["error"]
    assert full.headers["Retry-After"]


def test_unknown_job_and_bad_docs(live):
    r = httpx.get(f"{live.url}/api/batch-status/nope", timeout=10)
    assert r.status_code == 404 and "not found" in r.json()["error"]
    assert _submit(live, {"docs": [{"id": 1}]}).status_code == 400
    assert _submit(live, {"docs": []}).status_code == 400
    assert _submit(live, {"model": MODEL}).status_code == 400


def test_sollol_embed_cli_writes_every_vector_and_resumes(live, tmp_path):
    src, out = tmp_path / "docs.jsonl", tmp_path / "out.jsonl"
    texts = _texts(300, "cli")
    src.write_text(
        "".join(json.dumps({"id": f"c{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    )

    def run():
        argv = ["embed", str(src), "-o", str(out), "--url", live.url, "--quiet"]
        return subprocess.run(
            [sys.executable, "-m", "sollol.cli", *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )

    first = run()
    assert first.returncode == 0, first.stderr
    lines = out.read_text().splitlines()
    assert [json.loads(x)["id"] for x in lines] == [f"c{i}" for i in range(300)]
    out.write_text("\n".join(lines[:100]) + "\n" + lines[100][:20])  # cut short mid-line
    again = run()
    assert again.returncode == 0, again.stderr
    assert "200 docs (100 already in" in again.stderr  # only the missing ones were sent
    ids = [json.loads(x)["id"] for x in out.read_text().splitlines() if x.endswith("}")]
    assert sorted(ids) == sorted(f"c{i}" for i in range(300))
    assert json.loads(out.read_text().splitlines()[-1])["embedding"] == _direct(live, texts[-1:])[0]


def test_embed_batch_from_python_returns_vectors_in_input_order(live):
    from sollol import SOLLOL

    texts = ["alpha", "beta", "gamma"]
    vectors = SOLLOL(live.cfg).embed_batch(texts, model=MODEL, timeout_s=60)
    assert vectors == _direct(live, texts)


def test_batch_metrics_are_exported(live):
    _wait_done(live, _submit(live, {"docs": ["metrics doc"]}).json()["job_id"])
    text = httpx.get(f"{live.url}/metrics", timeout=10).text
    docs = next(line for line in text.splitlines() if line.startswith("sollol_batch_docs_total"))
    assert float(docs.split()[-1]) >= 1
    assert 'sollol_batch_jobs{state="done"}' in text
    assert "sollol_batch_chunk_duration_seconds_count" in text


def test_a_big_synchronous_embed_call_is_shared_by_the_hosts_and_answered_once(live):
    texts = _texts(200, "scatter")  # above scatter_threshold (64)
    r = httpx.post(f"{live.url}/api/embed", json={"model": MODEL, "input": texts}, timeout=60)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["embeddings"] == _direct(live, texts)  # one answer, in input order
    parts = body["_sollol_routing"]["scatter"]
    assert sum(p["inputs"] for p in parts) == 200
    assert sorted(p["host"] for p in parts) == sorted(HOSTS)
    assert body["prompt_eval_count"] > 0


def test_openai_embeddings_with_many_inputs_are_scattered_too(live):
    texts = _texts(100, "oai")
    r = httpx.post(f"{live.url}/v1/embeddings", json={"model": MODEL, "input": texts}, timeout=60)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [d["index"] for d in data] == list(range(100))
    assert [d["embedding"] for d in data] == _direct(live, texts)
    assert len(r.json()["_sollol_routing"]["scatter"]) == 2
