"""The JSON values simulated models produce under ``format`` and in tool arguments: valid under
their schema (checked by ``jsonschema``), the same for the same seed; and capabilities in
profiles."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sollol.sim import ProfileError, parse_profile
from sollol.sim.answer import message_hints, tool_arguments
from sollol.sim.families import family_of
from sollol.sim.schema_value import schema_value

NODE = {"name": "n", "models": {}}

SCHEMAS: list[tuple[str, dict[str, Any]]] = [
    (
        "scalar types",
        {
            "type": "object",
            "properties": {
                "s": {"type": "string"},
                "i": {"type": "integer"},
                "n": {"type": "number"},
                "b": {"type": "boolean"},
            },
            "required": ["s", "i", "n", "b"],
        },
    ),
    (
        "enum and const",
        {
            "type": "object",
            "properties": {"e": {"enum": ["x", 3, None]}, "c": {"const": "fixed"}},
            "required": ["e", "c"],
        },
    ),
    (
        "bounds",
        {
            "type": "object",
            "properties": {
                "i": {"type": "integer", "minimum": 10, "maximum": 12},
                "x": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "m": {"type": "integer", "multipleOf": 7, "minimum": 1, "maximum": 30},
            },
            "required": ["i", "x", "m"],
        },
    ),
    (
        "draft-4 exclusive",
        {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "type": "integer",
            "minimum": 0,
            "maximum": 2,
            "exclusiveMinimum": True,
            "exclusiveMaximum": True,
        },
    ),
    (
        "string lengths and formats",
        {
            "type": "object",
            "properties": {
                "long": {"type": "string", "minLength": 30},
                "short": {"type": "string", "maxLength": 3},
                "when": {"type": "string", "format": "date-time"},
                "mail": {"type": "string", "format": "email"},
                "id": {"type": "string", "format": "uuid"},
            },
            "required": ["long", "short", "when", "mail", "id"],
        },
    ),
    (
        "arrays",
        {
            "type": "object",
            "properties": {
                "few": {
                    "type": "array",
                    "items": {"type": "integer"},
                    "minItems": 4,
                    "maxItems": 4,
                },
                "pair": {
                    "type": "array",
                    "prefixItems": [{"type": "string"}, {"type": "boolean"}],
                    "minItems": 2,
                },
                "set": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["a", "b", "c"]},
                    "minItems": 3,
                    "uniqueItems": True,
                },
            },
            "required": ["few", "pair", "set"],
        },
    ),
    (
        "nullable and unions",
        {
            "type": "object",
            "properties": {
                "t": {"type": ["null", "string"]},
                "u": {"anyOf": [{"type": "null"}, {"type": "integer"}]},
                "o": {"oneOf": [{"type": "boolean"}, {"type": "string"}]},
            },
            "required": ["t", "u", "o"],
        },
    ),
    (
        "allOf merges",
        {
            "allOf": [
                {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"properties": {"b": {"type": "integer"}}, "required": ["b"]},
            ]
        },
    ),
    (
        "$defs and recursion",
        {
            "$defs": {
                "node": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    },
                    "required": ["name", "children"],
                }
            },
            "$ref": "#/$defs/node",
        },
    ),
    (
        "top-level array",
        {
            "type": "array",
            "items": {"type": "object", "properties": {"k": {"type": "string"}}, "required": ["k"]},
            "minItems": 1,
        },
    ),
]


@pytest.mark.parametrize(("what", "schema"), SCHEMAS, ids=[w for w, _ in SCHEMAS])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_are_valid_under_their_schema(what: str, schema: dict[str, Any], seed: int):
    value = schema_value(schema, random.Random(seed))
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())
    assert value == schema_value(schema, random.Random(seed))  # deterministic


_NAMES = st.text("abcdefgh", min_size=1, max_size=5)
_LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.integers(0, 5).map(lambda n: {"type": "string", "minLength": n, "maxLength": n + 5}),
    st.tuples(st.integers(-50, 50), st.integers(0, 30)).map(
        lambda t: {"type": "integer", "minimum": t[0], "maximum": t[0] + t[1]}
    ),
    st.just({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.lists(st.one_of(st.integers(), _NAMES), min_size=1, max_size=4, unique=True).map(
        lambda options: {"enum": options}
    ),
    st.sampled_from(["date-time", "date", "email", "uri", "uuid"]).map(
        lambda f: {"type": "string", "format": f}
    ),
)


def _compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    def with_required(props: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
        required = st.lists(st.sampled_from(sorted(props)), unique=True) if props else st.just([])
        return required.map(lambda r: {"type": "object", "properties": props, "required": r})

    objects = st.dictionaries(_NAMES, children, max_size=4).flatmap(with_required)
    arrays = st.tuples(children, st.integers(0, 3), st.integers(0, 3)).map(
        lambda t: {"type": "array", "items": t[0], "minItems": t[1], "maxItems": t[1] + t[2]}
    )
    return st.one_of(objects, arrays, children.map(lambda c: {"anyOf": [c, {"type": "null"}]}))


@settings(max_examples=100, deadline=None)
@given(st.recursive(_LEAVES, _compound, max_leaves=12), st.integers(0, 2**32))
def test_any_nesting_of_supported_keywords_gives_a_valid_value(schema: dict[str, Any], seed: int):
    value = schema_value(schema, random.Random(seed))
    jsonschema.validate(value, schema, format_checker=jsonschema.FormatChecker())


def test_format_json_without_a_schema_is_an_object():
    assert isinstance(schema_value({}, random.Random(0)), dict)


def test_tool_arguments_take_the_messages_words_numbers_and_named_enum():
    params = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "verbose": {"type": "boolean"},  # optional: left out
        },
        "required": ["city", "days", "unit"],
    }
    message = "Forecast for Lisbon over 5 days in Fahrenheit please"
    args = tool_arguments(params, message, random.Random(0))
    assert args == {"city": "Lisbon", "days": 5, "unit": "fahrenheit"}
    assert tool_arguments({"type": "object", "properties": {}}, message, random.Random(0)) == {}
    assert message_hints("I think Paris").strings == ["Paris"]  # "I" is no name


@pytest.mark.parametrize(
    ("name", "embedding", "family", "capabilities"),
    [
        ("llama3.2", False, "llama", ("completion", "tools")),
        ("library/qwen3:8b", False, "qwen3", ("completion", "tools", "thinking")),
        ("qwen3-vl:4b", False, "qwen3vl", ("completion", "vision", "tools", "thinking")),
        ("qwen2.5-coder:7b", False, "qwen2", ("completion", "tools", "insert")),
        ("gemma3:4b", False, "gemma3", ("completion", "vision")),
        ("gemma3:1b", False, "gemma3", ("completion",)),  # the small sizes have no vision
        ("llava:13b", False, "llama", ("completion", "vision")),
        ("nomic-embed-text", True, "nomic-bert", ("embedding",)),
        ("qwen3", True, "nomic-bert", ("embedding",)),  # an embed_dim makes it an embedder
        ("my-own-model", False, "llama", ("completion", "tools")),
    ],
)
def test_family_defaults_by_model_name(name, embedding, family, capabilities):
    defaults = family_of(name, embedding)
    assert (defaults.family, defaults.capabilities) == (family, capabilities)


def test_profile_capabilities_override_the_family_and_are_checked():
    spec = parse_profile(
        {"nodes": [{**NODE, "models": {"qwen3": {"capabilities": ["completion"]}}}]}
    )
    assert spec.nodes[0].models["qwen3:latest"].capabilities == ("completion",)
    assert spec.nodes[0].models["qwen3:latest"].family == "qwen3"
    with pytest.raises(ProfileError, match=r"capabilities: unknown \['telepathy'\]"):
        parse_profile({"nodes": [{**NODE, "models": {"m": {"capabilities": ["telepathy"]}}}]})
    with pytest.raises(ProfileError, match="expected a list of capability names"):
        parse_profile({"nodes": [{**NODE, "models": {"m": {"capabilities": "tools"}}}]})
