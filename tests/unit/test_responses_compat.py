"""OpenAI Responses requests become native chat bodies as Ollama maps them (non-stateful), and
native answers become response objects and the response.* events OpenAI's SDKs accumulate."""

import json

import pytest

from sollol.api import responses_compat as rc
from sollol.api.openai_requests import CompatError
from sollol.api.responses_stream import ResponseStream


def test_string_input_with_instructions_and_limits():
    body = rc.responses_request(
        {"model": "m", "input": "hi", "instructions": "be brief", "max_output_tokens": 9}
    )
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert body["options"] == {"temperature": 1.0, "num_predict": 9}


def test_function_call_round_trip_items_become_native_tool_messages():
    body = rc.responses_request(
        {
            "model": "m",
            "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "go"}]},
                {"type": "function_call", "call_id": "c1", "name": "f", "arguments": '{"a":1}'},
                {"type": "function_call_output", "call_id": "c1", "output": "done"},
            ],
        }
    )
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "f", "description": "", "parameters": {"type": "object"}},
        }
    ]
    assert body["messages"][1]["tool_calls"] == [
        {"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}
    ]
    assert body["messages"][2] == {"role": "tool", "content": "done", "tool_call_id": "c1"}


@pytest.mark.parametrize(
    ("text", "fmt"),
    [
        (
            {"format": {"type": "json_schema", "name": "p", "schema": {"type": "object"}}},
            {"type": "object"},
        ),
        ({"format": {"type": "json_object"}}, "json"),
        ({"format": {"type": "text"}}, None),
    ],
)
def test_text_format_becomes_native_format(text, fmt):
    assert rc.responses_request({"model": "m", "input": "x", "text": text}).get("format") == fmt


def test_previous_response_id_is_refused_as_ollama_is_not_stateful():
    with pytest.raises(CompatError, match="previous_response_id"):
        rc.responses_request({"model": "m", "input": "x", "previous_response_id": "resp_1"})


def test_joined_answer_is_a_completed_response_with_output_text():
    final = {
        "done": True,
        "done_reason": "stop",
        "prompt_eval_count": 5,
        "eval_count": 3,
        "message": {"role": "assistant", "content": "Hello!"},
    }
    out = rc.joined_response({"model": "m", "input": "x"}, final, "resp_7")
    assert out["status"] == "completed" and out["object"] == "response"
    assert out["output"][0]["content"][0] == {
        "type": "output_text",
        "text": "Hello!",
        "annotations": [],
        "logprobs": [],
    }
    assert out["usage"]["total_tokens"] == 8


def test_a_length_stop_is_an_incomplete_response():
    final = {
        "done": True,
        "done_reason": "length",
        "message": {"role": "assistant", "content": "a"},
    }
    out = rc.joined_response({"model": "m"}, final, "resp_8")
    assert out["status"] == "incomplete"
    assert out["incomplete_details"] == {"reason": "max_output_tokens"}


def test_stream_events_are_numbered_and_end_with_the_full_response():
    s = ResponseStream({"model": "m", "input": "x"}, "resp_9")
    events = s.on_line({"message": {"role": "assistant", "content": "Hel"}, "done": False})
    events += s.on_line({"message": {"role": "assistant", "content": "lo"}, "done": False})
    events += s.on_line(
        {
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "eval_count": 2,
        }
    )
    assert [e for e, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [d["sequence_number"] for _, d in events] == list(range(len(events)))
    assert events[6][1]["text"] == "Hello"
    assert events[-1][1]["response"]["output"][0]["content"][0]["text"] == "Hello"


def test_stream_function_call_is_one_item_with_json_arguments():
    s = ResponseStream({"model": "m"}, "resp_10")
    call = {"id": "c1", "function": {"name": "f", "arguments": {"a": 1}}}
    events = s.on_line({"message": {"role": "assistant", "content": "", "tool_calls": [call]}})
    events += s.on_line(
        {"message": {"role": "assistant", "content": ""}, "done": True, "done_reason": "stop"}
    )
    done = next(d for e, d in events if e == "response.function_call_arguments.done")
    assert json.loads(done["arguments"]) == {"a": 1}
    final = events[-1][1]["response"]["output"]
    assert [(i["type"], i["name"], i["call_id"]) for i in final] == [("function_call", "f", "c1")]
