"""The gateway loses its connections to Redis while Redis itself keeps running (a network
partition between them, here for 8 s): when the same server answers again (its run_id,
sollol/state/epoch.py), an answer already streaming goes on reading its stream where it was,
and a call waiting in the host's queue keeps its place. Neither is continued, resubmitted or
run twice. Before, the streaming answer was cut and continued as if Redis had restarted empty.

The gateway reaches Redis through a TCP proxy that the test cuts; the workers, beat and the
test itself reach Redis directly. (On a plain Redis URL a stream read fails at once when its
connection drops: its connection has no retries, state/held.py.)"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import json
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sollol.config import load_config
from sollol.embedded_redis import free_port
from sollol.launcher import Stack
from sollol.state.queues import queue_depths
from tests.helpers import wait_for
from tests.integration.conftest import FAST, Live, make_profile

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# one slot at 200 tokens/s (time_scale 1): the long answer runs ~15 s, through the whole cut
MODEL = {"size_mb": 2000, "load_s": 1.0, "prompt_tps": 2000, "gen_tps": 200}
LONG, CUT_S = 3000, 8.0  # tokens of the long answer; seconds the gateway cannot reach Redis


class Proxy:
    """Forwards TCP connections to ``target``; :meth:`cut` resets every one and refuses new
    ones until :meth:`restore`."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target, self.port = target, free_port()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(256)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> int:
        """Close the listener and every open connection (RST); returns how many were open."""
        assert self._listener is not None
        return self.close()

    def close(self) -> int:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for a, b in pairs:
            for s in (a, b):
                with contextlib.suppress(OSError):  # linger 0: close sends a reset
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
        return len(pairs)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)


@pytest.fixture(scope="module")
def cut_live(redis_server, tmp_path_factory):
    redis.Redis.from_url(redis_server.url).flushall()
    proxy = Proxy((redis_server.host, redis_server.port))
    node = {"name": "solo", "num_parallel": 1, "models": {"m": MODEL}, "loaded": ["m"]}
    profile = make_profile([node], time_scale=1.0)
    workdir = Path(tmp_path_factory.mktemp("partition"))
    (workdir / "fleet.yaml").write_text(json.dumps(profile))
    cfg = load_config(env={}, redis_url=redis_server.url, port=free_port(), **FAST)
    control = free_port()
    stack = Stack(  # the gateway reaches Redis through the proxy, the workers directly
        cfg,
        sim_profile=str(workdir / "fleet.yaml"),
        sim_control_port=control,
        gateway_redis_url=f"redis://127.0.0.1:{proxy.port}/0",
    )
    try:
        stack.start()
        client = redis.Redis.from_url(redis_server.url)
        yield (
            Live(
                f"http://127.0.0.1:{cfg.port}",
                cfg,
                client,
                stack,
                profile,
                f"http://127.0.0.1:{control}",
            ),
            proxy,
        )
    finally:
        stack.stop()
        stack.cleanup_logs()
        proxy.close()


def _generate(url: str, tokens: int, stream: bool, seen: list[Any] | None = None) -> list[dict]:
    body = {"model": "m", "prompt": f"tell me {tokens}", "stream": stream}
    body["options"] = {"num_predict": tokens}
    lines = []
    with httpx.stream("POST", f"{url}/api/generate", json=body, timeout=120) as r:
        assert r.status_code == 200, r.read()
        for line in r.iter_lines():
            if line:
                lines.append(json.loads(line))
                if seen is not None:
                    seen.append(lines[-1])
    return lines


def _readers(client: Any) -> int:
    return sum(1 for c in client.client_list() if c.get("cmd") == "xread")


def test_a_partition_of_the_gateway_from_redis_cuts_no_answer_and_moves_no_call(cut_live):
    live, proxy = cut_live
    seen: list[Any] = []
    with cf.ThreadPoolExecutor(2) as pool:
        long_answer = pool.submit(_generate, live.url, LONG, True, seen)
        wait_for(lambda: len(seen) >= 10, 60, "the long answer to start streaming", interval=0.05)
        queued = pool.submit(_generate, live.url, 5, False)
        wait_for(
            lambda: sum(queue_depths(live.redis, ["solo"])["solo"]) >= 1,
            30,
            "the short request to wait in the host's queue",
            interval=0.05,
        )
        # both calls' relays read their streams (the queued one's does not exist yet)
        wait_for(lambda: _readers(live.redis) >= 2, 30, "two stream readers", interval=0.05)
        assert proxy.cut() >= 2  # the gateway's connections: both calls' stream readers among them
        time.sleep(CUT_S)  # the partition lasts; Redis and the workers go on
        streamed_during_cut = len(seen)
        proxy.restore()
        lines = long_answer.result(timeout=120)
        short = queued.result(timeout=120)
    log = (Path(live.stack.log_dir) / "gateway.log").read_text(errors="replace")
    assert "same server back" in log, log[-3000:]  # the relay did lose Redis, and knew it
    assert "resubmitting" not in log and "restarted" not in log, log[-3000:]
    final = lines[-1]
    assert final["done"] and final["eval_count"] == LONG
    assert sum(1 for x in lines if x.get("response")) == LONG  # every token once, none lost
    routing = final["_sollol_routing"]
    assert routing["attempts"] == 1 and "continued_from" not in routing, routing
    assert streamed_during_cut < len(lines)  # it was cut mid-answer, not after it
    assert short[-1]["done"] and short[-1]["_sollol_routing"]["attempts"] == 1
    ledger = live.sim_requests()["requests"]
    for answer in (final, short[-1]):
        rid = answer["_sollol_routing"]["request_id"]
        assert ledger[rid]["received"] == ledger[rid]["completed"] == 1, ledger[rid]
