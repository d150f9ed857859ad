"""Bodies are validated like Ollama would, and what Ollama would answer 500 for is a 400 here."""

import pytest

from sollol.api.schemas import ValidationError, first_error, native_body, validate_body


def _error(endpoint, body):
    with pytest.raises(ValidationError) as info:
        validate_body(endpoint, body)
    return first_error(info.value.messages)


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("chat", {"model": "m", "messages": [{"role": "user", "content": "hi"}]}),
        (
            "chat",
            {"model": "m", "messages": [{"role": "User", "content": "hi"}]},
        ),  # Ollama lower-cases
        ("chat", {"model": "m"}),  # no messages: load only
        ("chat", {"model": "m", "messages": [], "keep_alive": 0}),  # unload
        ("chat", {"model": "m", "messages": [], "keep_alive": "10m", "think": "high"}),
        (
            "generate",
            {
                "model": "m",
                "prompt": "x",
                "options": {"num_predict": 5, "temperature": 0.1, "stop": ["\n"]},
            },
        ),
        ("generate", {"model": "m", "prompt": "x", "format": {"type": "object"}}),
        ("generate", {"model": "m", "unknown_future_field": 1}),  # ignored like Ollama does
        ("embed", {"model": "m", "input": ["a", "b"], "dimensions": 64}),
        ("embed", {"model": "m", "input": "a"}),
        ("embeddings", {"model": "m", "prompt": "a"}),
        ("show", {"name": "m"}),
        # Ollama skips null options: LangChain's OllamaEmbeddings sends them for every unset one
        ("embed", {"model": "m", "input": "a", "options": {"num_ctx": None, "temperature": None}}),
        ("chat", {"model": "m", "messages": [], "options": {"stop": None, "num_predict": 3}}),
        ("embed", {"model": "m", "text": "the original SOLLOL's field"}),
        ("chat", {"model": "m", "messages": [], "think": "low", "tools": [{"type": "function"}]}),
        ("generate", {"model": "m", "truncate": False, "shift": True, "logprobs": True}),
    ],
)
def test_valid_bodies_pass(endpoint, body):
    validate_body(endpoint, body)


@pytest.mark.parametrize(
    ("endpoint", "body", "message"),
    [
        ("chat", [], "JSON object"),
        ("chat", {"model": "m", "messages": "hi"}, "messages"),
        ("chat", {"model": "m", "messages": [{"role": "robot", "content": "x"}]}, "role must be"),
        ("chat", {"model": "m", "messages": [{"content": "x"}]}, "messages.0.role"),
        ("chat", {"model": 3}, "model"),
        ("chat", {"model": "m", "stream": "yes"}, "stream"),
        (
            "generate",
            {"model": "m", "options": {"num_predict": "ten"}},
            'option "num_predict" must be of type integer',
        ),
        (
            "generate",
            {"model": "m", "options": {"temperature": True}},
            'option "temperature" must be of type float',
        ),
        ("generate", {"model": "m", "options": []}, "options must be an object"),
        # Ollama's native stop is []string: a bare string makes Ollama answer 500 (found by schemathesis)
        (
            "generate",
            {"model": "m", "options": {"stop": "\n"}},
            'option "stop" must be of type array',
        ),
        ("generate", {"model": "m", "format": "xml"}, "format"),
        ("generate", {"model": "m", "keep_alive": "3600"}, "invalid keep_alive"),
        ("generate", {"model": "m", "think": "extreme"}, "think"),
        ("generate", {"model": "m", "top_logprobs": 21}, "top_logprobs must be between 0 and 20"),
        ("generate", {"model": "m", "raw": True, "system": "s"}, "raw mode does not support"),
        ("embed", {"model": "m", "input": [1, 2]}, "invalid input type"),
        ("embed", {"model": "m", "input": "a", "dimensions": 0}, "dimensions"),
    ],
)
def test_invalid_bodies_are_explained(endpoint, body, message):
    assert message in _error(endpoint, body)


def test_null_options_are_not_forwarded_and_set_ones_are():
    body = {"model": "m", "input": "a", "options": {"num_ctx": None, "temperature": 0.5}}
    assert native_body("embed", body)["options"] == {"temperature": 0.5}
    assert body["options"] == {"num_ctx": None, "temperature": 0.5}  # the client's dict is kept


def test_text_on_embed_is_the_input_to_embed():
    assert native_body("embed", {"model": "m", "text": "doc"}) == {"model": "m", "input": "doc"}
    # an explicit input wins; text is then just an unknown field
    assert native_body("embed", {"model": "m", "input": "a", "text": "b"})["input"] == "a"


def test_text_of_the_wrong_type_is_explained():
    assert "invalid input type" in _error("embed", {"model": "m", "text": 3})
