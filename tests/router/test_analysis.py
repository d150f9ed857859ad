"""analyse_request: an Ollama-native body → RequestProfile."""

from __future__ import annotations

import pytest

from sollol.router import analyse_request
from sollol.sim import physics


def chat(text: str, model: str = "llama3.2", **extra: object) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **extra}


@pytest.mark.parametrize(
    ("endpoint", "body", "task"),
    [
        # embedding is decided by the endpoint, never by words in a chat
        ("chat", chat("What is a vector?"), "chat"),
        ("chat", chat("How do embeddings work?"), "chat"),
        ("chat", chat("Explain vector embeddings to a child"), "chat"),
        ("embed", {"model": "nomic-embed-text", "input": "What is a vector?"}, "embedding"),
        ("embed", {"model": "nomic-embed-text", "input": ["a", "b"]}, "embedding"),
        ("embeddings", {"model": "nomic-embed-text", "prompt": "Summarize this"}, "embedding"),
        # code: a fence, a language, or "write … function"
        ("chat", chat("Write a python function that reverses a list"), "code"),
        ("chat", chat("Why does this fail?\n```js\nlet x = 1\n```"), "code"),
        ("chat", chat("fix the bug in this function please"), "code"),
        ("generate", {"model": "m", "prompt": "def add(a, b):"}, "code"),
        ("chat", chat("What is the function of the liver?"), "chat"),  # "function" alone ≠ code
        # summarization beats the material it applies to
        ("chat", chat("Summarize this article for me: ..."), "summarization"),
        ("chat", chat("tl;dr of the meeting notes below"), "summarization"),
        ("chat", chat("Summarize this code:\n```py\nprint(1)\n```"), "summarization"),
        ("chat", chat("Classify this review: great phone, terrible battery"), "classification"),
        ("chat", chat("Is this positive or negative? I loved it"), "classification"),
        ("chat", chat("Extract the dates and names from this email"), "extraction"),
        ("chat", chat("Compare TCP and UDP for a game server"), "analysis"),
        ("chat", chat("What are the pros and cons of remote work?"), "analysis"),
        ("generate", {"model": "m", "prompt": "Once upon a time"}, "generation"),
        ("chat", chat("Hello!"), "chat"),
    ],
)
def test_task_type_table(endpoint: str, body: dict[str, object], task: str) -> None:
    assert analyse_request(endpoint, body).task_type == task


def test_system_prompt_decides_when_the_user_message_says_nothing() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are a code reviewer for python projects."},
            {"role": "user", "content": "Here it is."},
        ],
    }
    assert analyse_request("chat", body).task_type == "code"


def test_prompt_tokens_match_the_simulators_count() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "x" * 401}]
    profile = analyse_request("chat", {"model": "m", "messages": messages})
    assert profile.prompt_tokens == physics.count_tokens(physics.chat_prompt_text(messages))


def test_embedding_batch_counts_inputs_and_tokens() -> None:
    profile = analyse_request("embed", {"model": "nomic-embed-text", "input": ["abcd"] * 3})
    assert (profile.input_count, profile.prompt_tokens, profile.output_tokens) == (3, 3, None)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"num_predict": 64}, 64),
        ({"num_predict": 0}, None),  # 0 and negatives mean "no limit" to Ollama
        ({"num_predict": -1}, None),
        ({"num_predict": True}, None),  # a bool is not a count
        ({}, None),
    ],
)
def test_output_tokens_come_from_num_predict(
    options: dict[str, object], expected: int | None
) -> None:
    assert analyse_request("chat", chat("hi", options=options)).output_tokens == expected


def test_model_name_is_normalized() -> None:
    assert analyse_request("chat", chat("hi", model="Llama3.2")).model == "llama3.2:latest"


def test_later_turns_of_a_conversation_share_the_session_key() -> None:
    first = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Plan a trip to Rome"},
    ]
    later = [
        *first,
        {"role": "assistant", "content": "Day 1 …"},
        {"role": "user", "content": "Add a day in Florence"},
    ]
    a = analyse_request("chat", {"model": "llama3.2", "messages": first})
    b = analyse_request("chat", {"model": "llama3.2", "messages": later})
    other = analyse_request("chat", chat("Plan a trip to Oslo"))
    assert a.session_key is not None
    assert a.session_key == b.session_key != other.session_key
    assert (a.conversation_depth, b.conversation_depth) == (0, 1)


def test_session_key_depends_on_model() -> None:
    a = analyse_request("chat", chat("Plan a trip", model="llama3.2"))
    b = analyse_request("chat", chat("Plan a trip", model="llama3.1:8b"))
    assert a.session_key != b.session_key


@pytest.mark.parametrize(
    ("body", "complexity", "needs_gpu"),
    [
        (chat("Hi there"), "low", False),
        (chat("Tell me about Rome. " * 30), "medium", False),
        (chat("Analyze this contract. " + "clause " * 2000), "high", True),
        (chat("hi", options={"num_predict": 4096}), "high", True),
    ],
)
def test_complexity_and_gpu_need(body: dict[str, object], complexity: str, needs_gpu: bool) -> None:
    profile = analyse_request("chat", body)
    assert (profile.complexity, profile.needs_gpu) == (complexity, needs_gpu)


def test_priority_is_clamped_to_1_10() -> None:
    assert analyse_request("chat", chat("hi"), 42).priority == 10
    assert analyse_request("chat", chat("hi"), 0).priority == 1


def test_unknown_endpoint_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown endpoint"):
        analyse_request("pull", {"model": "m"})


def test_odd_bodies_do_not_crash() -> None:
    for body in (
        {},
        {"messages": None},
        {"messages": ["x", 3]},
        {"model": 3, "prompt": None},
        {"model": "m", "messages": [{"role": "user", "content": None}]},
        {"model": "m", "messages": [{"role": "user", "content": [{"text": "hi"}]}]},
    ):
        analyse_request("chat", body)
        analyse_request("generate", body)
        analyse_request("embed", body)
