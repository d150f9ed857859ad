"""Model residency as routing sees it: loads, slots, eviction, keep-alive, queueing, disconnects.

Where time matters the check is an ordering or a generous ratio, never a tight bound.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from sollol.sim.protocol import BUSY_MESSAGE
from tests.sim.conftest import CHAT, CODER, EMBED, node, start_reading, wait_for

SLOW_LOAD = {**CODER, "load_s": 25.0}  # 0.5 s of wall time at time_scale 0.02
HOLD_S = 0.3  # how long a test keeps a slot or a victim busy (a lower bound on waits)


def post(url: str, path: str, body: dict[str, Any], timeout: float = 30) -> httpx.Response:
    return httpx.post(url + path, json={"stream": False, **body}, timeout=timeout)


def generate(url: str, model: str = "llama3.2", **body: Any) -> dict[str, Any]:
    r = post(url, "/api/generate", {"model": model, "prompt": "hello there", **body})
    assert r.status_code == 200, r.text
    return r.json()


def ps_names(url: str) -> list[str]:
    return sorted(m["name"] for m in httpx.get(url + "/api/ps").json()["models"])


def in_background(fn, *args: Any, **kwargs: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn(*args, **kwargs)
        except Exception as exc:  # handed to the test thread
            out["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test_cold_model_pays_its_load_time_and_warm_requests_do_not(start_fleet):
    f = start_fleet(node("n", models={"llama3.2": CHAT, "slow": SLOW_LOAD}))
    url = f.urls["n"]
    cold = generate(url, "slow", options={"num_predict": 2})
    warm = generate(url, "slow", options={"num_predict": 2})
    load_s = 25.0 * 0.02
    assert cold["load_duration"] >= 0.8 * load_s * 1e9
    assert warm["load_duration"] < 0.2 * load_s * 1e9
    assert f.state("n")["loads"] == 1


def test_one_slot_makes_the_second_request_wait_for_the_first(start_fleet):
    f = start_fleet(node("n", num_parallel=1))
    url = f.urls["n"]
    endless = {"model": "llama3.2", "prompt": "a", "options": {"num_predict": 1_000_000}}
    with httpx.stream("POST", url + "/api/generate", json=endless, timeout=30) as first:
        _held = start_reading(first)  # the first request holds the only slot
        t, second = in_background(generate, url, options={"num_predict": 5})
        wait_for(
            lambda: f.state("n")["models"]["llama3.2:latest"]["waiting"] == 1,
            what="the second request to wait for the slot",
        )
        time.sleep(HOLD_S)
    t.join(30)  # leaving the stream disconnected the first request and freed the slot
    final = second["result"]
    # the second request's total_duration includes at least the time the slot was held
    waited = final["total_duration"] - final["eval_duration"] - final["prompt_eval_duration"]
    assert waited >= HOLD_S * 1e9
    assert final["load_duration"] < HOLD_S * 1e9  # slot waiting is not load time


def test_concurrent_requests_share_throughput_sublinearly(start_fleet):
    f = start_fleet(
        node("n", num_parallel=4, models={"llama3.2": {**CHAT, "gen_tps": 100}}), time_scale=0.2
    )  # 150 tokens = 1.5 s profile = 300 ms real alone
    url = f.urls["n"]
    alone = generate(url, options={"num_predict": 150})["eval_duration"]
    threads = [in_background(generate, url, options={"num_predict": 150}) for _ in range(4)]
    for t, _ in threads:
        t.join(30)
    together = [out["result"]["eval_duration"] for _, out in threads]
    # physics: each of 4 active slots runs at 4^-0.3 = 0.66 of its solo speed (1.52x longer)
    ratio = sum(together) / len(together) / alone
    assert 1.15 < ratio < 3.0, ratio


def test_loading_past_max_loaded_models_evicts_the_idle_model(start_fleet):
    f = start_fleet(node("n", max_loaded_models=1))
    url = f.urls["n"]
    assert ps_names(url) == ["llama3.2:latest"]
    generate(url, "qwen2.5-coder:7b", options={"num_predict": 1})
    assert ps_names(url) == ["qwen2.5-coder:7b"]
    assert f.state("n")["evictions"] == 1


def test_a_model_that_does_not_fit_evicts_the_idle_one_with_the_shortest_keep_alive(start_fleet):
    # 2000 + 300 resident in 5000 MB; the 4700 MB coder needs 4700: one eviction is enough
    f = start_fleet(node("n", vram_mb=5000, loaded=["llama3.2", "nomic-embed-text"]))
    url = f.urls["n"]
    post(url, "/api/generate", {"model": "nomic-embed-text", "prompt": "", "keep_alive": "1h"})
    generate(url, "qwen2.5-coder:7b", options={"num_predict": 1})
    assert ps_names(url) == ["nomic-embed-text:latest", "qwen2.5-coder:7b"]


def test_eviction_waits_for_the_victims_in_flight_request(start_fleet):
    f = start_fleet(node("n", max_loaded_models=1))
    url = f.urls["n"]
    endless = {"model": "llama3.2", "prompt": "a", "options": {"num_predict": 1_000_000}}
    with httpx.stream("POST", url + "/api/generate", json=endless, timeout=30) as busy:
        _held = start_reading(busy)
        t, coder = in_background(generate, url, "qwen2.5-coder:7b", options={"num_predict": 1})
        wait_for(
            lambda: f.state("n")["models"]["llama3.2:latest"]["state"] == "unloading",
            what="llama to be chosen for eviction",
        )
        assert ps_names(url) == ["llama3.2:latest"]  # still resident while it works
        time.sleep(HOLD_S)
    t.join(30)
    # the coder's load waited for the victim's request to end, then loaded (4 s x 0.02)
    assert coder["result"]["load_duration"] >= (HOLD_S + 0.8 * 4.0 * 0.02) * 1e9
    assert ps_names(url) == ["qwen2.5-coder:7b"]


def test_keep_alive_zero_unloads_when_the_request_ends(start_fleet):
    f = start_fleet(node("n"))
    url = f.urls["n"]
    generate(url, keep_alive=0, options={"num_predict": 2})
    assert ps_names(url) == []


def test_keep_alive_expiry_unloads_an_idle_model(start_fleet):
    f = start_fleet(node("n"))
    url = f.urls["n"]
    generate(url, "qwen2.5-coder:7b", keep_alive="2s", options={"num_predict": 1})  # 40 ms real
    wait_for(lambda: "qwen2.5-coder:7b" not in ps_names(url), what="keep-alive expiry")
    assert f.state("n")["expirations"] >= 1


def test_client_disconnect_cancels_generation_and_frees_the_slot(start_fleet):
    f = start_fleet(node("n", num_parallel=1))
    url = f.urls["n"]
    body = {"model": "llama3.2", "prompt": "a", "options": {"num_predict": 1_000_000}}
    with httpx.stream("POST", url + "/api/generate", json=body, timeout=30) as r:
        _held = start_reading(r)
        assert f.state("n")["models"]["llama3.2:latest"]["active"] == 1
    wait_for(lambda: f.state("n")["requests"]["cancelled"] == 1, what="the handler to end")
    assert f.state("n")["models"]["llama3.2:latest"]["refs"] == 0
    assert generate(url, options={"num_predict": 2})["eval_count"] == 2


def test_busy_503_when_the_pending_load_queue_is_full(start_fleet):
    # time_scale 0.06: the slow load takes 1.5 s, ample for the steps below on a busy machine
    f = start_fleet(
        node(
            "n",
            max_queue=1,
            models={"llama3.2": CHAT, "slow": SLOW_LOAD, "nomic-embed-text": EMBED},
        ),
        time_scale=0.06,
    )
    url = f.urls["n"]
    loading, _ = in_background(generate, url, "slow", options={"num_predict": 1})
    wait_for(lambda: f.state("n")["loading"] == "slow:latest", what="the slow load to start")
    queued, queued_out = in_background(
        post, url, "/api/embed", {"model": "nomic-embed-text", "input": "x"}
    )
    wait_for(lambda: f.state("n")["pending"] == 1, what="a request to queue behind the load")
    r = post(url, "/api/embed", {"model": "nomic-embed-text", "input": "y"})
    assert r.status_code == 503
    assert r.json() == {"error": BUSY_MESSAGE}
    # a resident model skips the scheduler queue entirely
    assert generate(url, options={"num_predict": 1})["done"]
    queued.join(30)
    loading.join(30)
    # the embed waited behind the slow load: one load at a time
    assert queued_out["result"].json()["load_duration"] >= 0.3 * 25.0 * 0.06 * 1e9
    assert f.state("n")["busy_rejections"] == 1


def test_different_load_time_options_reload_the_model(start_fleet):
    f = start_fleet(node("n"))
    url = f.urls["n"]
    generate(url, options={"num_predict": 1, "num_ctx": 2048})
    (llama,) = httpx.get(url + "/api/ps").json()["models"]
    assert llama["context_length"] == 2048
    assert f.state("n")["loads"] == 1


@pytest.mark.parametrize("n", [1, 2, 17, 300])
def test_num_predict_is_the_exact_number_of_streamed_tokens(url: str, n: int):
    body = {"model": "llama3.2", "prompt": "count", "options": {"num_predict": n}}
    with httpx.stream("POST", url + "/api/generate", json=body, timeout=30) as r:
        lines = [json.loads(line) for line in r.iter_lines()]
    assert len(lines) == n + 1
    assert lines[-1]["eval_count"] == n and lines[-1]["done_reason"] == "length"
