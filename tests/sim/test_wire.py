"""Raw HTTP: framing, content types, defaults and status codes as Ollama's gin server sends them."""

from __future__ import annotations

import json
import re
import socket

import httpx
import pytest

from sollol.sim import FleetProfile, NodeSpec, SimFleet
from sollol.sim.protocol import BUSY_MESSAGE

CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")
LOCAL_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")


def test_stream_absent_means_ndjson_stream_without_blank_lines(url: str):
    body = {"model": "llama3.2", "prompt": "hi", "options": {"num_predict": 3}}
    with httpx.stream("POST", url + "/api/generate", json=body) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        assert r.headers["transfer-encoding"] == "chunked"
        body = r.read().decode()
    assert body.endswith("\n") and "\n\n" not in body
    lines = [json.loads(line) for line in body.splitlines()]
    assert len(lines) == 4
    assert all(" " not in line.split('"response"')[0] for line in body.splitlines())  # compact
    final = lines[-1]
    assert final["done"] is True and final["done_reason"] == "length"
    assert all(
        isinstance(final[k], int)
        for k in ("total_duration", "load_duration", "prompt_eval_duration", "eval_duration")
    )
    assert all(CREATED_AT.match(line["created_at"]) for line in lines)


def test_non_stream_is_one_json_object_with_content_length(url: str):
    r = httpx.post(
        url + "/api/chat",
        json={
            "model": "llama3.2",
            "stream": False,
            "messages": [{"role": "user", "content": "x"}],
            "options": {"num_predict": 2},
        },
    )
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)
    assert "done_reason" in r.json() and "context" not in r.json()  # chat has no context


def test_zero_metrics_are_omitted(url: str):
    # A chat with only empty contents still has a prompt ("user: "), so use the load-only reply,
    # which carries no metrics at all, and an embed of an empty list.
    r = httpx.post(url + "/api/generate", json={"model": "llama3.2", "prompt": ""})
    assert not any(k.endswith(("_duration", "_count")) for k in r.json())
    r = httpx.post(url + "/api/embed", json={"model": "nomic-embed-text", "input": []})
    assert r.json() == {"model": "nomic-embed-text", "embeddings": []}


@pytest.mark.parametrize(
    ("method", "path", "status", "body"),
    [
        ("GET", "/no/such/path", 404, "404 page not found"),
        ("GET", "/api/chat", 405, "405 method not allowed"),
        ("POST", "/api/tags", 405, "405 method not allowed"),
        ("HEAD", "/api/ps", 405, ""),
    ],
)
def test_unknown_paths_and_wrong_methods_are_plain_text(url, method, path, status, body):
    r = httpx.request(method, url + path)
    assert r.status_code == status
    assert r.headers["content-type"] == "text/plain"
    assert r.text == body


@pytest.mark.parametrize("path", ["/", "/api/version", "/api/tags"])
def test_head_works_where_ollama_allows_it(url: str, path: str):
    r = httpx.head(url + path)
    assert r.status_code == 200 and r.content == b""


def test_root_and_version(url: str):
    r = httpx.get(url + "/")
    assert r.text == "Ollama is running"
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    assert httpx.get(url + "/api/version").json() == {"version": "0.32.15"}


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/chat", b"", 400, "missing request body"),
        ("/api/generate", b"   ", 400, "missing request body"),
        ("/api/chat", b"{not json", 400, "invalid character 'n' looking for beginning of value"),
        ("/api/chat", b'{"model": ""}', 400, "model is required"),
        ("/api/generate", b'{"model": ""}', 404, "model '' not found"),
        ("/api/embed", b'{"model": ""}', 404, "model '' not found"),
        ("/api/embeddings", b'{"model": ""}', 400, "model is required"),
        ("/api/show", b"{}", 400, "model is required"),
        ("/api/embed", b'{"model": "nomic-embed-text", "input": 5}', 400, "invalid input type"),
        (
            "/api/chat",
            b'{"model": 5}',
            400,
            "json: cannot unmarshal number into Go struct field ChatRequest.model of type string",
        ),
        (
            "/api/generate",
            b'{"model": "llama3.2", "prompt": "x", "keep_alive": "3600"}',
            400,
            'time: missing unit in duration "3600"',
        ),
        (
            "/api/generate",
            b'{"model": "llama3.2", "prompt": "x", "options": {"num_ctx": "big"}}',
            500,
            'option "num_ctx" must be of type integer',
        ),
        ("/api/generate", b'{"model": "llama3.2", "prompt": "x", "format": 5}', 500, None),
        (
            "/api/chat",
            b'{"model": "llama3.2", "tools": [{"type": "function"}], "messages": []}',
            200,
            None,
        ),
        (
            "/api/generate",
            b'{"model": "llama3.2", "prompt": "x", "suffix": "y"}',
            400,
            "registry.ollama.ai/library/llama3.2:latest does not support insert",
        ),
    ],
)
def test_request_errors_match_the_catalogue(url, path, body, status, error):
    # any Content-Type: Ollama parses the body as JSON regardless (here: curl's form default)
    r = httpx.post(
        url + path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == status, r.text
    if error is not None:
        assert r.json() == {"error": error}
    assert r.headers["content-type"] == "application/json; charset=utf-8"


def test_tags_and_ps_timestamps_use_the_local_offset_format(url: str):
    tags = httpx.get(url + "/api/tags").json()["models"]
    assert all(LOCAL_TIME.match(m["modified_at"]) for m in tags)
    stamps = [m["modified_at"] for m in tags]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert all(
        len(m["digest"]) == 64
        and set(m["details"])
        >= {"parent_model", "format", "family", "families", "parameter_size", "quantization_level"}
        for m in tags
    )
    ps = httpx.get(url + "/api/ps").json()["models"]
    assert ps and all(LOCAL_TIME.match(m["expires_at"]) for m in ps)
    assert all(m["context_length"] > 0 and m["size_vram"] == m["size"] for m in ps)


def test_keep_alive_forever_shows_a_far_future_expiry(url: str):
    httpx.post(url + "/api/generate", json={"model": "llama3.2", "prompt": "", "keep_alive": -1})
    (llama,) = [
        m for m in httpx.get(url + "/api/ps").json()["models"] if m["name"] == "llama3.2:latest"
    ]
    assert int(llama["expires_at"][:4]) > 2200
    httpx.post(url + "/api/generate", json={"model": "llama3.2", "prompt": "", "keep_alive": "5m"})


def test_host_header_check_on_loopback(url: str):
    assert httpx.get(url + "/", headers={"Host": "api.example.com"}).status_code == 403
    assert httpx.get(url + "/", headers={"Host": "api.example.com"}).content == b""
    for host in ("localhost:1234", "gpu.internal", "10.0.0.5", socket.gethostname()):
        assert httpx.get(url + "/", headers={"Host": host}).status_code == 200, host


def test_busy_message_has_ollamas_two_spaces():
    assert "again.  maximum" in BUSY_MESSAGE


def test_a_node_with_nothing_installed_lists_empty_arrays_and_null_openai_data():
    bare = FleetProfile(nodes=(NodeSpec(name="bare", port=0, models={}),), time_scale=0.02)
    with SimFleet(bare) as f:
        url = f.urls["bare"]
        assert httpx.get(url + "/api/tags").json() == {"models": []}
        assert httpx.get(url + "/api/ps").json() == {"models": []}
        assert httpx.get(url + "/v1/models").json() == {"object": "list", "data": None}


def test_embed_without_truncation_refuses_input_longer_than_the_context(url: str):
    r = httpx.post(
        url + "/api/embed",
        json={"model": "nomic-embed-text", "truncate": False, "input": "word " * 40_000},
    )
    assert r.status_code == 400
    assert r.json() == {"error": "the input length exceeds the context length"}
