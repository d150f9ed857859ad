"""The prompt cache of a runner's slots: a prompt that extends what a slot evaluated (its last
prompt and answer) evaluates only the rest, and the cache is lost with the runner (unload,
reload with another num_ctx)."""

from __future__ import annotations

from typing import Any

import httpx

from sollol.sim import physics
from sollol.sim.prompt_cache import PromptCache, common_prefix_len
from tests.sim.conftest import node

SYSTEM = "You are a careful assistant. " * 100  # ~750 tokens


def chat(url: str, messages: list[dict[str, str]], **options: Any) -> dict[str, Any]:
    body = {
        "model": "llama3.2",
        "messages": messages,
        "stream": False,
        "options": {"num_predict": 20, **options},
    }
    r = httpx.post(url + "/api/chat", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def two_turns(url: str, second_url: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """A first turn on ``url``, then its follow-up (history + a new question) on ``second_url``."""
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi there?"}]
    first = chat(url, history)
    history += [first["message"], {"role": "user", "content": "And then?"}]
    return first, chat(second_url or url, history)


def full_tokens(messages: list[dict[str, str]]) -> int:
    return physics.count_tokens(physics.chat_prompt_text(messages))


def test_common_prefix_len_counts_shared_leading_characters():
    assert common_prefix_len("abcdef", "abcxyz") == 3
    assert common_prefix_len("", "abc") == 0
    assert common_prefix_len("abc", "abc") == 3


def test_a_free_slot_that_starts_the_prompt_is_reused_else_the_least_recent_is_forked():
    cache = PromptCache(3)
    for i, text in enumerate(("a" * 400, "b" * 400, "c" * 40)):
        assert cache.claim(text) == (i, 0)  # empty slots: least recently used first
        cache.store(i, text)
    assert cache.claim("b" * 400 + "more") == (1, 100)  # 400 shared characters = 100 tokens
    assert cache.claim("zzz") == (0, 0)  # nothing shared: the least recently used free slot
    cache.store(0, "zzz")
    cache.store(1, "b" * 400)
    assert cache.claim("c" * 40)[0] == 2


def test_a_follow_up_evaluates_only_what_the_slot_did_not_hold(start_fleet):
    f = start_fleet(node("a"), node("b"), time_scale=0.2)  # 750 tokens: 75 ms of wall time
    first, second = two_turns(f.urls["a"])
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi there?"}]
    assert first["prompt_eval_count"] == full_tokens(history)
    whole = full_tokens([*history, first["message"], {"role": "user", "content": "And then?"}])
    # only "\nuser: And then?" and the partial token before it are new
    assert 1 <= second["prompt_eval_count"] <= 6 < whole
    assert second["prompt_eval_duration"] < first["prompt_eval_duration"] / 5

    _, elsewhere = two_turns(f.urls["a"], f.urls["b"])
    assert elsewhere["prompt_eval_count"] == whole  # node b never saw the conversation


def test_a_shared_system_prompt_is_forked_into_another_slot_and_the_source_keeps_its_text():
    system = "s" * 800
    cache = PromptCache(2)
    cache.claim(system + "conversation A")
    cache.store(0, system + "conversation A and its answer")
    shared = len(system + "conversation ")
    assert cache.claim(system + "conversation B") == (1, shared // 4)
    cache.store(1, system + "conversation B and its answer")
    a_text = system + "conversation A and its answer"
    assert cache.claim(a_text + ", then more") == (0, len(a_text) // 4)


def test_the_same_prompt_again_evaluates_one_token():
    cache = PromptCache(1)
    cache.claim("x" * 4000)
    cache.store(0, "x" * 4000)
    _, cached = cache.claim("x" * 4000)
    assert cached == 1000  # the engine still evaluates max(1, 1000 - 1000) = 1 token


def test_unloading_the_model_loses_its_cache(start_fleet):
    f = start_fleet(node("a"))
    url = f.urls["a"]
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi there?"}]
    first = chat(url, history)
    follow_up = [*history, first["message"], {"role": "user", "content": "And then?"}]
    httpx.post(url + "/api/generate", json={"model": "llama3.2", "keep_alive": 0}, timeout=30)
    assert chat(url, follow_up)["prompt_eval_count"] == full_tokens(follow_up)


def test_another_num_ctx_reloads_the_model_and_its_cache_is_gone(start_fleet):
    f = start_fleet(node("a"))
    url = f.urls["a"]
    history = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi there?"}]
    warm = chat(url, history)
    assert f.state("a")["loads"] == 0  # the profile's loaded instance served it
    reloaded = chat(url, history, num_ctx=2048)
    assert reloaded["load_duration"] > warm["load_duration"]
    assert f.state("a")["loads"] == 1
    assert reloaded["prompt_eval_count"] == full_tokens(history)  # a new runner, no cache
    (ps,) = httpx.get(url + "/api/ps").json()["models"]
    assert ps["context_length"] == 2048


def test_a_displaced_prompt_is_restored_from_host_memory():
    cache = PromptCache(1)
    a, b = "a" * 4000, "b" * 4000
    cache.claim(a)
    cache.store(0, a)
    assert cache.claim(b) == (0, 0)  # b displaces a, which goes to host memory
    cache.store(0, b)
    assert cache.claim(a + " follow-up") == (0, 1000)  # restored: all of a is reused
    cache.store(0, a + " follow-up")
    assert cache.claim(b) == (0, 1000)  # and b went to host memory in turn


def test_host_memory_keeps_the_most_recent_texts_within_its_budget():
    cache = PromptCache(1, ram_tokens=2000)
    for ch in "abc":  # each 1,000 tokens; the budget holds two
        cache.claim(ch * 4000)
        cache.store(0, ch * 4000)
    cache.claim("d" * 4000)  # displaces c: host memory now holds b and c, a was dropped
    cache.store(0, "d" * 4000)
    assert cache.claim("a" * 4000)[1] == 0
    cache.store(0, "a" * 4000)
    assert cache.claim("c" * 4000)[1] == 1000
