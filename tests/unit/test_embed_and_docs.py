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


def test_readme_never_tells_anyone_to_install_sollol_by_name_from_an_index():
    """The package named `sollol` on the index is another project."""
    for doc in ("README.md", "ARCHITECTURE.md", "examples/multi_machine_setup.py"):
        text = (ROOT / doc).read_text()
        assert not re.search(r"pip3? install (-U )?sollol\b(?![-./\w])", text), doc
    readme = (ROOT / "README.md").read_text()
    assert "make dist" in readme and "source checkout" in readme and "docker build" in readme


def test_readme_says_where_each_original_setting_went():
    from sollol.compat import IGNORED, RENAMED

    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Coming from the original SOLLOL", 1)[1].split("\n## ", 1)[0]
    for name in (*RENAMED, *IGNORED):
        assert f"`{name}`" in section, name
    for endpoint in ("/api/stats", "/api/dashboard", "/docs", "/api/embed/batch", ":9090"):
        assert endpoint in section, endpoint


def test_architecture_document_is_linked_and_names_real_redis_keys():
    arch = (ROOT / "ARCHITECTURE.md").read_text()
    assert "(ARCHITECTURE.md)" in (ROOT / "README.md").read_text()
    source = "\n".join(p.read_text() for p in (ROOT / "sollol").rglob("*.py"))
    for key in re.findall(r"^\| `([a-z_]+)[:`]", arch, re.M):
        assert f'key("{key}"' in source, key
