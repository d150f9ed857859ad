"""OpenAI requests become the native bodies Ollama's own compatibility layer would build, and back."""

import base64
import struct

import pytest

from sollol.api import openai_compat as oc


def test_chat_request_maps_fields_and_openai_defaults():
    body = oc.chat_request(
        {
            "model": "llama3.2",
            "max_tokens": 7,
            "seed": 1,
            "stop": "\n",
            "messages": [
                {"role": "system", "content": "be brief"},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "what is "},
                        {"type": "text", "text": "this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,QUJD"}},
                    ],
                },
            ],
            "response_format": {"type": "json_object"},
            "reasoning_effort": "minimal",
        }
    )
    assert body["model"] == "llama3.2"
    assert body["messages"][1] == {"role": "user", "content": "what is this?", "images": ["QUJD"]}
    # OpenAI's defaults, not Ollama's native ones (temperature 1.0, top_p 1.0)
    assert body["options"] == {
        "num_predict": 7,
        "seed": 1,
        "temperature": 1.0,
        "top_p": 1.0,
        "stop": ["\n"],
    }
    assert body["format"] == "json"
    assert body["think"] == "low"


def test_tool_round_trip_arguments_are_json_strings_on_the_openai_side():
    body = oc.chat_request(
        {
            "model": "m",
            "messages": [
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "w", "arguments": '{"c":"x"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
            ],
        }
    )
    assert body["messages"][0]["tool_calls"][0]["function"]["arguments"] == {"c": "x"}
    assert body["messages"][1]["tool_name"] == "w"  # found by matching tool_call_id
    out = oc.chat_completion(
        {
            "model": "m",
            "done": True,
            "message": {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "call_2", "function": {"index": 0, "name": "w", "arguments": {"c": "y"}}}
                ],
            },
        },
        "chatcmpl-1",
        1,
    )
    call = out["choices"][0]["message"]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"c": "y"}'
    assert out["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("req", "message"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "model is required"),
        ({"model": "m", "messages": []}, "too short"),
        (
            {
                "model": "m",
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}],
                    }
                ],
            },
            "base64",
        ),
        (
            {
                "model": "m",
                "messages": [{"role": "user", "content": "x"}],
                "reasoning_effort": "huge",
            },
            "reasoning_effort",
        ),
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "max_tokens": -1},
            "max_tokens",
        ),
    ],
)
def test_bad_chat_requests(req, message):
    with pytest.raises(oc.CompatError, match=message):
        oc.chat_request(req)


def test_stream_chunks_follow_current_ollama_shape():
    state = oc.ChatStreamState("chatcmpl-3", "m", include_usage=True)
    first = state.on_line({"message": {"role": "assistant", "content": "Hel"}, "done": False})
    second = state.on_line({"message": {"role": "assistant", "content": "lo"}, "done": False})
    last = state.on_line(
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 3,
            "eval_count": 2,
        }
    )
    assert first[0]["choices"][0]["delta"] == {"role": "assistant", "content": "Hel"}
    assert second[0]["choices"][0]["delta"] == {"content": "lo"}  # role only in the first chunk
    assert [c["choices"] and c["choices"][0]["delta"] for c in last] == [{}, []]
    assert last[0]["choices"][0]["finish_reason"] == "length"
    assert last[1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    assert {c["created"] for c in first + second + last} == {state.created}


def test_embeddings_base64_is_little_endian_float32():
    out = oc.embeddings_response(
        {"embeddings": [[0.5, -1.0]], "prompt_eval_count": 2}, "e", "base64"
    )
    raw = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


@pytest.mark.parametrize("inp", [[], [1, 2], None])
def test_embeddings_input_must_be_text(inp):
    with pytest.raises(oc.CompatError, match="invalid input"):
        oc.embed_request({"model": "e", "input": inp})


def test_models_list_is_null_when_empty_like_ollama():
    assert oc.models_list([]) == {"object": "list", "data": None}
    listed = oc.models_list(
        [{"name": "jane/tiny:latest", "modified_at": "2025-05-04T17:37:44.706015396-07:00"}]
    )
    assert listed["data"][0]["owned_by"] == "jane"
    assert listed["data"][0]["created"] == 1746405464


USER = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    ("limits", "expected"),
    [
        ({"max_completion_tokens": 20}, 20),  # what LangChain's ChatOpenAI(max_tokens=20) sends
        ({"max_tokens": 7}, 7),
        ({"max_completion_tokens": 20, "max_tokens": 7}, 20),  # the current name wins
        ({"max_completion_tokens": None, "max_tokens": 7}, 7),
    ],
)
def test_max_completion_tokens_and_max_tokens_become_num_predict(limits, expected):
    body = oc.chat_request({"model": "m", "messages": USER, **limits})
    assert body["options"]["num_predict"] == expected


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
TIME = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(
    ("choice", "names"),
    [
        (None, ["get_weather", "get_time"]),
        ("auto", ["get_weather", "get_time"]),
        ("required", ["get_weather", "get_time"]),
        ("none", None),  # no tools offered: the model cannot call one
        ({"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
    ],
)
def test_tool_choice_narrows_the_tools_sent(choice, names):
    req = {"model": "m", "messages": USER, "tools": [WEATHER, TIME]}
    if choice is not None:
        req["tool_choice"] = choice
    body = oc.chat_request(req)
    got = [t["function"]["name"] for t in body["tools"]] if "tools" in body else None
    assert got == names


def test_tool_choice_naming_an_unknown_function_is_a_clear_error():
    with pytest.raises(oc.CompatError, match="not in tools"):
        oc.chat_request(
            {
                "model": "m",
                "messages": USER,
                "tools": [WEATHER],
                "tool_choice": {"type": "function", "function": {"name": "nope"}},
            }
        )


@pytest.mark.parametrize(
    ("response_format", "expected"),
    [
        ({"type": "json_object"}, "json"),
        (
            {"type": "json_schema", "json_schema": {"name": "p", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
        ({"type": "text"}, None),
    ],
)
def test_response_format_becomes_native_format(response_format, expected):
    body = oc.chat_request({"model": "m", "messages": USER, "response_format": response_format})
    assert body.get("format") == expected


@pytest.mark.parametrize(
    ("effort", "think"),
    [("none", False), ("minimal", "low"), ("medium", "medium"), ("high", "high"), ("xhigh", "max")],
)
def test_reasoning_effort_becomes_think(effort, think):
    assert (
        oc.chat_request({"model": "m", "messages": USER, "reasoning_effort": effort})["think"]
        == think
    )


def test_completions_logprobs_count_becomes_top_logprobs():
    body = oc.completion_request({"model": "m", "prompt": "p", "logprobs": 3})
    assert (body["logprobs"], body["top_logprobs"]) == (True, 3)


def test_stream_tool_call_chunk_carries_whole_arguments_and_finish_reason_tool_calls():
    state = oc.ChatStreamState("chatcmpl-4", "m", include_usage=False)
    call = {
        "id": "call_9",
        "function": {"index": 0, "name": "get_weather", "arguments": {"city": "Paris"}},
    }
    chunks = state.on_line({"message": {"role": "assistant", "content": "", "tool_calls": [call]}})
    last = state.on_line(
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
    )
    delta = chunks[0]["choices"][0]["delta"]
    assert delta["tool_calls"][0]["function"] == {
        "name": "get_weather",
        "arguments": '{"city": "Paris"}',
    }
    assert last[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_completion_stream_usage_rides_every_chunk_as_zero_then_comes_last():
    state = oc.CompletionStreamState("cmpl-5", "m", include_usage=True)
    first = state.on_line({"response": "Hel", "done": False})
    last = state.on_line(
        {
            "response": "",
            "done": True,
            "done_reason": "length",
            "prompt_eval_count": 2,
            "eval_count": 4,
        }
    )
    assert first[0]["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert [c["choices"] and c["choices"][0]["finish_reason"] for c in last] == ["length", []]
    assert last[-1]["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    plain = oc.CompletionStreamState("cmpl-6", "m", include_usage=False)
    assert "usage" not in plain.on_line({"response": "x", "done": False})[0]


LOGPROBS = [{"token": "Hi", "logprob": -0.5, "bytes": [72, 105], "top_logprobs": []}]


def test_logprobs_ride_the_choice_as_openai_content_entries():
    final = {
        "done": True,
        "done_reason": "stop",
        "logprobs": LOGPROBS,
        "message": {"content": "Hi"},
    }
    assert oc.chat_completion(final, "chatcmpl-1", 1)["choices"][0]["logprobs"] == {
        "content": LOGPROBS
    }
    state = oc.ChatStreamState("chatcmpl-2", "m", include_usage=False)
    (chunk,) = state.on_line({"message": {"content": "Hi"}, "logprobs": LOGPROBS})
    assert chunk["choices"][0]["logprobs"] == {"content": LOGPROBS}
    gen = oc.completion({"done": True, "response": "Hi", "logprobs": LOGPROBS}, "cmpl-1", 1)
    assert gen["choices"][0]["logprobs"] == {"content": LOGPROBS}
    plain = oc.chat_completion({"done": True, "message": {"content": "x"}}, "chatcmpl-3", 1)
    assert "logprobs" not in plain["choices"][0]
