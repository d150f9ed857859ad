"""A live stack for integration tests: embedded Redis, simulated nodes, real Celery workers, gateway.

It is the same code path as ``sollol up`` (sollol.launcher.Stack): gunicorn gateway, one worker
process per host, control worker and beat, so the tests exercise what users run.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from sollol.config import SOLLOLConfig, load_config
from sollol.embedded_redis import EmbeddedRedis, free_port
from sollol.launcher import Stack

FAST = {  # timings that make failures show up in seconds, not minutes
    "heartbeat_interval_s": 0.5,
    "heartbeat_ttl_s": 3.0,
    "snapshot_cache_ms": 100.0,
    "visibility_timeout_s": 6,
    "unacked_restore_interval_s": 1.0,
    "first_chunk_timeout_s": 60.0,
    "idle_chunk_timeout_s": 10.0,
    "health_check_interval_s": 1.0,
    "reroute_interval_s": 1.0,
    "aging_interval_s": 0.5,
}


@dataclass
class Live:
    url: str
    cfg: SOLLOLConfig
    redis: Any
    stack: Stack
    profile: dict[str, Any]
    control_url: str

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def fault(self, node: str, mode: str) -> None:
        req = urllib.request.Request(
            f"{self.control_url}/nodes/{node}/fault",
            method="POST",
            data=json.dumps({"mode": mode}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).close()

    def recover(self, node: str) -> None:
        req = urllib.request.Request(
            f"{self.control_url}/nodes/{node}/recover",
            method="POST",
            data=b"{}",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=10).close()

    def sim_requests(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.control_url}/requests", timeout=10) as r:
            return json.loads(r.read())


def make_profile(nodes: list[dict[str, Any]], time_scale: float = 0.05) -> dict[str, Any]:
    for n in nodes:
        n.setdefault("port", free_port())
    return {"time_scale": time_scale, "nodes": nodes}


CHAT = {"size_mb": 2000, "load_s": 2.0, "prompt_tps": 2000, "gen_tps": 100}


def solo_profile() -> dict[str, Any]:
    """One host, ``solo``, with one slot and llama3.2 resident: every request competes for it."""
    node = {"name": "solo", "num_parallel": 1, "models": {"llama3.2": CHAT}, "loaded": ["llama3.2"]}
    return make_profile([node], time_scale=0.05)


CODER = {"size_mb": 4700, "load_s": 4.0, "prompt_tps": 1200, "gen_tps": 50}
EMBED = {"size_mb": 300, "load_s": 0.5, "embed_dim": 64, "embed_tps": 4000}


def launch(profile: dict[str, Any], cfg: SOLLOLConfig, workdir: Path, client: Any) -> Live:
    """Start a whole stack (sim nodes of ``profile``, workers, beat, gateway) as `sollol up`
    does, supervised (dead workers, beat and control restart); ``client`` becomes Live.redis."""
    path = workdir / "fleet.yaml"
    path.write_text(yaml.safe_dump(profile))
    control = free_port()
    stack = Stack(cfg, sim_profile=str(path), sim_control_port=control)
    try:
        stack.start()
    except Exception:
        stack.stop()
        raise
    threading.Thread(target=stack.supervise, name="supervisor", daemon=True).start()
    return Live(
        url=f"http://127.0.0.1:{cfg.port}",
        cfg=cfg,
        redis=client,
        stack=stack,
        profile=profile,
        control_url=f"http://127.0.0.1:{control}",
    )


@pytest.fixture(scope="module")
def live_factory(
    redis_server: EmbeddedRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Live]]:
    """Start a live stack from a profile dict; everything started is stopped at module end."""
    started: list[Stack] = []

    def start(profile: dict[str, Any], **settings: Any) -> Live:
        redis.Redis.from_url(redis_server.url).flushall()
        cfg = load_config(
            env={}, redis_url=redis_server.url, port=free_port(), **{**FAST, **settings}
        )
        live = launch(
            profile,
            cfg,
            Path(tmp_path_factory.mktemp("profile")),
            redis.Redis.from_url(redis_server.url),
        )
        started.append(live.stack)
        return live

    yield start
    for stack in started:
        stack.stop()
        stack.cleanup_logs()
