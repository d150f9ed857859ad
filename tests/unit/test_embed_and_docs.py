"""Embedding SOLLOL in an application, and documentation that matches the code."""

from __future__ import annotations

import re
import time
from dataclasses import fields
from pathlib import Path

import fakeredis

from sollol import SOLLOL, SOLLOLConfig
from sollol.state.registry import HostRecord, write_heartbeat

ROOT = Path(__file__).resolve().parents[2]


def _fleet(redis, cfg):
    for name, loaded in (("gpu-a", []), ("gpu-b", ["llama3.2:latest"])):
        write_heartbeat(
            redis,
            cfg,
            HostRecord(
                name=name,
                url="http://x:1",
                worker="w",
                slots=2,
                ollama_ok=True,
                seen_at=time.time(),
                installed=[{"name": "llama3.2:latest", "size": 2 * 2**30}],
                loaded=[{"name": m, "size": 2 * 2**30, "size_vram": 2 * 2**30} for m in loaded],
            ),
        )


def test_an_application_can_ask_where_a_request_would_go_and_why():
    sollol = SOLLOL(SOLLOLConfig(redis_url="redis://unused"))
    sollol._redis = fakeredis.FakeRedis(decode_responses=True)
    _fleet(sollol._redis, sollol.config)
    decision = sollol.route(
        "chat", {"model": "llama3.2", "messages": [{"role": "user", "content": "hello"}]}
    )
    assert decision.host == "gpu-b"  # the host with the model already loaded
    assert decision.reasoning
    assert {h.name for h in sollol.fleet().hosts} == {"gpu-a", "gpu-b"}


def test_every_setting_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"SOLLOL_([A-Z0-9_]+)", readme))
    settings = {f.name.upper() for f in fields(SOLLOLConfig)} - {"EXTRA"}
    assert settings <= documented, sorted(settings - documented)


def test_makefile_help_lists_the_documented_targets():
    makefile = (ROOT / "Makefile").read_text()
    for target in ("install", "run", "test", "lint", "typecheck", "bench"):
        assert re.search(rf"^{target}:.*## ", makefile, re.M), target
