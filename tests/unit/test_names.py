"""Model names match as Ollama matches them; host names are safe Celery queue names."""

import pytest

from sollol.names import InvalidHostName, normalize_model, owner_of, validate_host_name


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("llama3.2", "llama3.2:latest"),  # no tag means :latest
        ("Llama3.2:Latest", "llama3.2:latest"),  # Ollama matches case-insensitively
        ("qwen2.5-coder:7b", "qwen2.5-coder:7b"),
        ("library/llama3.2", "llama3.2:latest"),  # the default namespace is implicit
        ("registry.ollama.ai/library/qwen:7b", "qwen:7b"),
        ("user/model", "user/model:latest"),
        ("host:5000/user/model", "host:5000/user/model:latest"),  # a registry port is not a tag
    ],
)
def test_normalize_model(given, expected):
    assert normalize_model(given) == expected


def test_owner_is_the_namespace():
    assert owner_of("llama3.2") == "library"
    assert owner_of("jane/tiny") == "jane"


@pytest.mark.parametrize("name", ["gpu-a", "a", "host-01", "0box"])
def test_valid_host_names(name):
    assert validate_host_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-a", "GPU", "gpu:a", "gpu_a", "gpu.a", "a\x06\x16b", "a" * 64]
)
def test_invalid_host_names_are_rejected_with_guidance(name):
    with pytest.raises(InvalidHostName, match="lowercase"):
        validate_host_name(name)
