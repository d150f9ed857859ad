"""An answer interrupted mid-stream continues on another host: the worker killed, the node
crashed or Redis restarted after tokens reached the client, the client still reads one whole
answer — the text one uninterrupted node gives (both nodes share a seed, so they say the same
thing), every token once, a single final line counting them all, and ``_sollol_routing``
naming the attempt that died. The same through the OpenAI and Anthropic streams."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.helpers import wait_for
from tests.integration.conftest import CHAT, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MESSAGES = [{"role": "user", "content": "Tell me a long story about rivers."}]


@pytest.fixture(scope="module")
def live(live_factory):
    nodes = [
        {
            "name": n,
            "seed": 0,
            "num_parallel": 2,
            "models": {"llama3.2": CHAT},
            "loaded": ["llama3.2"],
        }
        for n in ("alpha", "beta")
    ]
    return live_factory(make_profile(nodes, time_scale=0.05), idle_chunk_timeout_s=4.0)


@pytest.fixture(autouse=True)
def healthy_fleet(live):
    """Every test starts with both nodes serving, no fault forced and both circuits closed."""
    for node in ("alpha", "beta"):
        live.recover(node)
    live.redis.delete(*[live.cfg.key("circuit", h) for h in ("alpha", "beta")])

    def healthy() -> bool:
        hosts = live.get("/api/fleet")["hosts"]
        return len(hosts) == 2 and all(h["health"] == "healthy" for h in hosts)

    wait_for(healthy, 60, "both hosts healthy", interval=0.2)


def _uninterrupted(live, tokens: int) -> str:
    """What one node answers in one piece (asked directly, not through the gateway)."""
    port = live.profile["nodes"][0]["port"]
    body = {"model": "llama3.2", "messages": MESSAGES, "stream": False}
    r = httpx.post(f"http://127.0.0.1:{port}/api/chat", json=body | _opts(tokens), timeout=60)
    return str(r.json()["message"]["content"])


def _opts(tokens: int) -> dict[str, Any]:
    return {"options": {"num_predict": tokens}}


def _chat(live, tokens: int, at_line: int = 0, fault: Callable[[str], None] | None = None):
    """Stream /api/chat; ``fault(host)`` runs once ``at_line`` lines were read."""
    body = {"model": "llama3.2", "messages": MESSAGES, "stream": True} | _opts(tokens)
    lines: list[dict[str, Any]] = []
    with httpx.stream("POST", f"{live.url}/api/chat", json=body, timeout=120) as r:
        assert r.status_code == 200
        host = r.headers["X-SOLLOL-Host"]
        for raw in r.iter_lines():
            if raw:
                lines.append(json.loads(raw))
            if fault is not None and len(lines) == at_line:
                fault(host)
    return host, lines


def _assert_one_whole_answer(lines: list[dict[str, Any]], expected: str, tokens: int) -> None:
    assert not [x for x in lines if "error" in x], lines[-1]
    assert [x["done"] for x in lines].count(True) == 1 and lines[-1]["done"]
    texts = [x["message"]["content"] for x in lines if x["message"]["content"]]
    assert "".join(texts) == expected  # nothing repeated, nothing lost
    assert len(texts) == tokens and lines[-1]["eval_count"] == tokens


def _continued(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(lines[-1]["_sollol_routing"].get("continued_from", []))


def test_a_worker_killed_mid_stream_is_continued_on_the_other_host(live):
    tokens = 6000  # about 3 s of generation: killed early in it

    def kill(host: str) -> None:
        worker = next(c for c in live.stack.children if c.name == f"worker-{host}")
        os.kill(worker.proc.pid, signal.SIGKILL)

    first, lines = _chat(live, tokens, at_line=100, fault=kill)
    _assert_one_whole_answer(lines, _uninterrupted(live, tokens), tokens)
    died = _continued(lines)
    assert [d["host"] for d in died] == [first] and died[0]["tokens"] >= 100
    assert lines[-1]["_sollol_routing"]["host"] != first


def test_a_node_crash_mid_stream_is_continued_on_the_other_host(live):
    tokens = 400
    expected = _uninterrupted(live, tokens)
    live.fault("alpha", "crash_mid_stream")
    continued: list[dict[str, Any]] = []
    for _ in range(3):  # until the router sent some of them to alpha
        with cf.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: _chat(live, tokens)[1], range(4)))
        for lines in answers:
            _assert_one_whole_answer(lines, expected, tokens)
            continued += _continued(lines)
        if continued:
            break
    assert continued and {d["host"] for d in continued} == {"alpha"}


def test_a_redis_restart_mid_stream_is_continued(live, redis_server):
    tokens = 6000

    def restart(_host: str) -> None:
        redis_server.kill()
        time.sleep(1.0)  # the outage
        redis_server.start()

    _, lines = _chat(live, tokens, at_line=200, fault=restart)
    _assert_one_whole_answer(lines, _uninterrupted(live, tokens), tokens)
    assert _continued(lines)[0]["why"].startswith("SOLLOL's Redis restarted")


def _sse_data(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        if line.startswith("data: ") and line != "data: [DONE]":
            out.append(json.loads(line[len("data: ") :]))
    return out


def _generate(live, tokens):
    """/api/generate streamed: (text pieces, tokens the final line counts, routing, errors)."""
    body = {"model": "llama3.2", "prompt": "Tell me about rivers.", "stream": True}
    r = httpx.post(f"{live.url}/api/generate", json=body | _opts(tokens), timeout=120)
    lines = [json.loads(x) for x in r.text.splitlines() if x]
    pieces = [x["response"] for x in lines if x.get("response")]
    errors = [x for x in lines if "error" in x] + [x for x in lines[:-1] if x.get("done")]
    return pieces, lines[-1].get("eval_count"), lines[-1].get("_sollol_routing", {}), errors


def _openai(live, tokens):
    body = {"model": "llama3.2", "messages": MESSAGES, "stream": True, "max_tokens": tokens}
    body["stream_options"] = {"include_usage": True}
    r = httpx.post(f"{live.url}/v1/chat/completions", json=body, timeout=120)
    chunks = _sse_data(r.text)
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c.get("choices")]
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c.get("choices")]
    errors = [c for c in chunks if "error" in c] + (
        [] if finishes.count("length") == 1 else [finishes]
    )
    usage = chunks[-1]["usage"]["completion_tokens"]
    return [p for p in pieces if p], usage, chunks[-1].get("_sollol_routing", {}), errors


def _anthropic(live, tokens):
    body = {"model": "llama3.2", "messages": MESSAGES, "stream": True, "max_tokens": tokens}
    r = httpx.post(f"{live.url}/v1/messages", json=body, timeout=120)
    events = _sse_data(r.text)
    pieces = [e["delta"]["text"] for e in events if e["type"] == "content_block_delta"]
    usage = next(e["usage"]["output_tokens"] for e in events if e["type"] == "message_delta")
    errors = [e for e in events if e["type"] == "error"]
    errors += [] if [e["type"] for e in events].count("message_stop") == 1 else [events[-1]]
    return pieces, usage, events[-1].get("_sollol_routing", {}), errors


@pytest.mark.parametrize("protocol", [_generate, _openai, _anthropic], ids=lambda f: f.__name__)
def test_every_stream_protocol_goes_on_over_a_node_crash(live, protocol):
    """Generate (continued as the chat its template renders), OpenAI and Anthropic streams: no
    error event, every token once (the count is exact: num_predict/max_tokens), one ending."""
    tokens = 300
    live.fault("alpha", "crash_mid_stream")
    continued = 0
    for _ in range(4):  # until the router sent some of them to alpha
        with cf.ThreadPoolExecutor(4) as pool:
            answers = list(pool.map(lambda _: protocol(live, tokens), range(4)))
        for pieces, usage, routing, errors in answers:
            assert not errors and len(pieces) == tokens and usage == tokens
            continued += bool(routing.get("continued_from"))
        if continued:
            break
    assert continued
