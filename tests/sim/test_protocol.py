"""Wire-format helpers as pure functions: Go durations, keep_alive, timestamps, token plans."""

from __future__ import annotations

import math
import re

import pytest

from sollol.sim import physics
from sollol.sim.protocol import (
    RequestError,
    parse_go_duration,
    parse_keep_alive,
    rfc3339_local,
    rfc3339_utc,
)
from sollol.sim.residency import LoadConfig, default_num_ctx
from sollol.sim.textgen import plan_tokens


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0", 0.0),
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("-1m", -60.0),
        ("1.5s", 1.5),
        ("250ms", 0.25),
        ("10us", 1e-5),
        ("2h45m30.5s", 9930.5),
    ],
)
def test_go_durations_parse_like_time_parse_duration(text, seconds):
    assert math.isclose(parse_go_duration(text), seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3600", 'time: missing unit in duration "3600"'),  # Ollama answers 400 with this
        ("abc", 'time: invalid duration "abc"'),
        ("5 m", 'time: invalid duration "5 m"'),
        ("", 'time: invalid duration ""'),
    ],
)
def test_bad_go_durations_are_refused_in_gos_words(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, 300.0),  # absent: the node default (OLLAMA_KEEP_ALIVE)
        (0, 0.0),
        ("0", 0.0),  # unload right after the request
        (90, 90.0),
        (2.5, 2.5),
        ("10m", 600.0),
        (-1, math.inf),
        ("-1m", math.inf),  # negative: forever
    ],
)
def test_keep_alive_values(value, seconds):
    assert parse_keep_alive(value, default_s=300.0) == seconds


@pytest.mark.parametrize("value", ["3600", True, [1], {"a": 1}])
def test_keep_alive_rejects_what_ollamas_decoder_rejects(value):
    with pytest.raises(RequestError) as err:
        parse_keep_alive(value, 300.0)
    assert err.value.status == 400


def test_created_at_trims_trailing_zeros_of_nanoseconds():
    assert rfc3339_utc(1_760_000_000_123_456_700) == "2025-10-09T08:53:20.1234567Z"
    assert rfc3339_utc(1_760_000_000_000_000_000) == "2025-10-09T08:53:20Z"


def test_local_times_carry_an_offset_or_z():
    assert re.fullmatch(
        r"2025-10-\d\dT\d\d:\d\d:20\.5(Z|[+-]\d\d:\d\d)", rfc3339_local(1_760_000_000_500_000_000)
    )


@pytest.mark.parametrize(
    ("vram_mb", "ctx"), [(0, 4096), (12288, 4096), (24576, 32768), (49152, 262144)]
)
def test_default_context_follows_ollamas_vram_tiers(vram_mb, ctx):
    assert default_num_ctx(vram_mb) == ctx


def test_num_gpu_minus_one_accepts_any_loaded_split():
    loaded = LoadConfig(num_ctx=4096, num_gpu=20)
    assert loaded.satisfies(LoadConfig(num_ctx=4096, num_gpu=-1))
    assert not loaded.satisfies(LoadConfig(num_ctx=8192, num_gpu=-1))


def test_token_plans_are_exact_with_num_predict_and_seeded_without():
    exact = plan_tokens(0, "m:latest", "p", None, 37)
    assert exact.count == len(list(exact.words())) == 37 and exact.done_reason == "length"
    a, b = plan_tokens(0, "m:latest", "p", 1, None), plan_tokens(0, "m:latest", "p", 1, None)
    assert a == b and a.text == b.text and a.done_reason == "stop"
    lengths = {plan_tokens(0, "m:latest", f"prompt {i}", None, None).count for i in range(50)}
    assert len(lengths) > 10  # heavy-tailed, not constant
    assert plan_tokens(0, "m:latest", "p", None, 10**9).count == 10**9  # lazy: costs nothing


def test_chat_prompt_tokens_count_roles_and_contents():
    text = physics.chat_prompt_text(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    )
    assert text == "system: be brief\nuser: hello"
    assert physics.count_tokens(text) == 7
