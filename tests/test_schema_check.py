"""Located JSON Schema messages, and the compiled yes/no check that spares jsonschema."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from broker import schema_check
from broker.schema_check import compile_schema_check, schema_problems
from broker.yamlfile import parse_yaml

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "account"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z]+$", "x-hint": "lowercase letters"},
        "account": {"type": "string"},
        "size": {"type": "integer", "minimum": 1, "maximum": 5},
        "labels": {"type": "object", "propertyNames": {"pattern": "^[A-Z]"}},
    },
}


def located(text: str) -> list[str]:
    doc = parse_yaml(text, "s.yaml")
    return [str(p) for p in schema_problems(doc, Draft202012Validator(SCHEMA))]


def test_schema_messages_are_located_and_hinted() -> None:
    text = "name: Bob\naccount: 0123\nsize: 9\nlabels: {ok: 1}\nnmae: x\n"
    assert sorted(located(text)) == sorted([
        "s.yaml:1:7: name: 'Bob' does not match ^[a-z]+$ (lowercase letters)",
        "s.yaml:2:10: account: expected a string, got a number (0123); "
        'write it in quotes: "0123"',
        "s.yaml:3:7: size: 9 is out of range: must be at most 5",
        "s.yaml:4:10: labels.ok: key 'ok' is not allowed",
        "s.yaml:5:1: nmae: unknown field 'nmae' (did you mean 'name'?)",
    ])


def test_schema_missing_field_points_at_the_mapping() -> None:
    assert located("\n\nname: bob\n") == ["s.yaml:3:1: missing required field 'account'"]


def test_long_values_are_shortened() -> None:
    assert schema_check.short("x" * 100) == "'" + "x" * 56 + "..."


# --- the compiled schema check -----------------------------------------------------------------


def test_schema_check_answers_like_jsonschema_on_examples() -> None:
    check = compile_schema_check(SCHEMA)
    assert check is not None
    validator = Draft202012Validator(SCHEMA)
    for value in (
        {"name": "bob", "account": "1"},
        {"name": "bob", "account": "1", "size": 5, "labels": {"A": 1}},
        {"name": "Bob", "account": "1"},  # pattern
        {"name": "bob"},  # required
        {"name": "bob", "account": 1},  # type
        {"name": "bob", "account": "1", "size": 6},  # maximum
        {"name": "bob", "account": "1", "size": True},  # a boolean is no integer
        {"name": "bob", "account": "1", "labels": {"a": 1}},  # propertyNames
        {"name": "bob", "account": "1", "nmae": "x"},  # additionalProperties
        ["name"],
        None,
    ):
        assert check(value) == validator.is_valid(value), value


def test_schema_check_is_never_more_lenient_than_jsonschema() -> None:
    schema = {"type": "array", "uniqueItems": True, "items": {"type": "integer"}}
    check = compile_schema_check(schema)
    assert check is not None
    # jsonschema takes 1.0 as an integer and compares mixed lists its own way: the
    # check refuses both, so jsonschema decides (and finds nothing to report).
    assert check([1.0]) is False and Draft202012Validator(schema).is_valid([1.0])
    assert check([1, 2]) is True and check([1, 1]) is False
    doc = parse_yaml("- 1.0\n", "f.yaml")
    assert schema_problems(doc, Draft202012Validator(schema), quick=check) == []


def test_schema_check_follows_refs_with_siblings_and_cycles() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": "#/$defs/node",
        "required": ["name"],
        "$defs": {"node": {
            "type": "object",
            "properties": {"name": {"type": ["string", "null"], "minLength": 2},
                           "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
        }},
    }
    check = compile_schema_check(schema)
    assert check is not None
    validator = Draft202012Validator(schema)
    for value in ({"name": "ab"}, {"name": None}, {"kids": []}, {"name": "a"},
                  {"name": "ab", "kids": [{"name": "cd", "kids": [{"name": "e"}]}]},
                  {"name": "ab", "kids": [{"name": "cd", "kids": [{"name": "ef"}]}]}):
        assert check(value) == validator.is_valid(value), value


@pytest.mark.parametrize(
    "schema",
    [
        {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object"},
        {"type": "object", "patternProperties": {"^a": {"type": "string"}}},
        {"anyOf": [{"type": "string"}, {"type": "integer"}]},
        {"type": "string", "format": "email"},
        {"$ref": "other.json#/x"},
        {"type": "object", "properties": {"a": {"$id": "inner", "type": "string"}}},
    ],
)
def test_schema_check_declines_what_it_does_not_implement(schema: dict) -> None:
    assert compile_schema_check(schema) is None
