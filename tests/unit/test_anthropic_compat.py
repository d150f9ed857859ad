"""Anthropic Messages requests become the native chat bodies Ollama's Anthropic layer builds, and
native answers become the message objects and SSE events the Anthropic SDKs accumulate."""

import json

import pytest

from sollol.api import anthropic_compat as ac
from sollol.api.openai_requests import CompatError

BASE = {"model": "m", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


def test_request_maps_system_limits_and_sampling():
    body = ac.messages_request(
        {
            **BASE,
            "system": [{"type": "text", "text": "be "}, {"type": "text", "text": "brief"}],
            "temperature": 0.2,
            "top_k": 5,
            "stop_sequences": ["END"],
        }
    )
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert body["options"] == {"num_predict": 20, "temperature": 0.2, "top_k": 5, "stop": ["END"]}


def test_tool_use_and_tool_result_blocks_become_native_tool_messages():
    body = ac.messages_request(
        {
            **BASE,
            "tools": [{"name": "get_weather", "input_schema": {"type": "object"}}],
            "messages": [
                {"role": "user", "content": "weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Oslo"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "rain"}
                    ],
                },
            ],
        }
    )
    assert body["tools"][0]["function"]["name"] == "get_weather"
    assistant, tool = body["messages"][1], body["messages"][2]
    assert assistant["tool_calls"] == [
        {"id": "toolu_1", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ]
    assert tool == {"role": "tool", "content": "rain", "tool_call_id": "toolu_1"}


@pytest.mark.parametrize(
    ("extra", "think"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, True),
        ({"thinking": {"type": "disabled"}}, False),
        ({"output_config": {"effort": "medium"}}, "medium"),
        ({}, None),
    ],
)
def test_thinking_becomes_think(extra, think):
    assert ac.messages_request({**BASE, **extra}).get("think") == think


@pytest.mark.parametrize(
    ("req", "message"),
    [
        ({**BASE, "model": ""}, "model is required"),
        ({**BASE, "max_tokens": 0}, "max_tokens is required and must be positive"),
        ({k: v for k, v in BASE.items() if k != "max_tokens"}, "max_tokens is required"),
        ({**BASE, "messages": []}, "messages is required"),
        (
            {
                **BASE,
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "url", "url": "x"}}],
                    }
                ],
            },
            "Only base64 images",
        ),
    ],
)
def test_bad_requests_get_ollamas_wording(req, message):
    with pytest.raises(CompatError, match=message):
        ac.messages_request(req)


def test_joined_answer_becomes_a_message_with_tool_use_and_usage():
    final = {
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 11,
        "eval_count": 4,
        "message": {
            "role": "assistant",
            "content": "",
            "thinking": "hmm",
            "tool_calls": [{"id": "call_1", "function": {"name": "f", "arguments": {"a": 1}}}],
        },
    }
    out = ac.message_response(final, "msg_1", "m")
    assert [b["type"] for b in out["content"]] == ["thinking", "tool_use"]
    assert out["content"][1] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}}
    assert out["stop_reason"] == "tool_use"
    assert out["usage"] == {"input_tokens": 11, "output_tokens": 4}


@pytest.mark.parametrize(
    ("done_reason", "stop"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("load", "stop_sequence")],
)
def test_stop_reasons(done_reason, stop):
    assert ac.stop_reason(done_reason, had_tools=False) == stop


def test_stream_events_open_and_close_each_block_once_in_order():
    s = ac.MessageStream("msg_2", "m")
    events = []
    for line in (
        {"message": {"role": "assistant", "thinking": "a"}, "done": False},
        {"message": {"role": "assistant", "content": "Hel"}, "done": False},
        {"message": {"role": "assistant", "content": "lo"}, "done": False},
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length",
            "eval_count": 2,
        },
    ):
        events += s.on_line(line)
    names = [e for e, _ in events]
    assert names == [
        "message_start",
        "content_block_start",  # thinking, index 0
        "content_block_delta",
        "content_block_stop",
        "content_block_start",  # text, index 1
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    assert events[4][1]["index"] == 1 and events[4][1]["content_block"] == {
        "type": "text",
        "text": "",
    }
    assert events[6][1]["delta"] == {"type": "text_delta", "text": "lo"}
    assert events[8][1]["delta"]["stop_reason"] == "max_tokens"
    assert events[8][1]["usage"]["output_tokens"] == 2


def test_stream_tool_call_is_one_block_with_the_whole_arguments():
    s = ac.MessageStream("msg_3", "m")
    call = {"id": "call_1", "function": {"name": "f", "arguments": {"city": "Oslo"}}}
    events = s.on_line(
        {"message": {"role": "assistant", "content": "", "tool_calls": [call]}, "done": False}
    )
    events += s.on_line(
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
    )
    start = next(d for e, d in events if e == "content_block_start")
    delta = next(d for e, d in events if e == "content_block_delta")
    assert start["content_block"] == {"type": "tool_use", "id": "call_1", "name": "f", "input": {}}
    assert json.loads(delta["delta"]["partial_json"]) == {"city": "Oslo"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_count_tokens_is_ollamas_quarter_of_the_characters():
    req = {"model": "m", "system": "be brief", "messages": [{"role": "user", "content": "x" * 40}]}
    # 8 (system) + 4 (role) + 40 (text) = 52 characters → 13 tokens
    assert ac.count_tokens(req) == 13
    assert ac.count_tokens({"model": "m", "messages": [{"role": "a", "content": ""}]}) == 1
    with pytest.raises(CompatError, match="model is required"):
        ac.count_tokens({"messages": []})


@pytest.mark.parametrize("tools", [697, "get_weather", {"name": "x"}])
def test_count_tokens_refuses_tools_that_are_not_an_array(tools):
    """Found by schemathesis: `"tools": 697` was iterated and answered a 500."""
    req = {"model": "m", "messages": [{"role": "user", "content": [{}, {"": [None]}]}]}
    assert ac.count_tokens(req) == 1  # odd content blocks count nothing, as Ollama's
    with pytest.raises(CompatError, match="tools must be an array"):
        ac.count_tokens({**req, "tools": tools})
