"""Located JSON Schema messages."""

from __future__ import annotations

from jsonschema import Draft202012Validator

from broker.ops import schema_problems as schema_check
from broker.ops.schema_problems import schema_problems
from broker.ops.yamldoc import parse_yaml

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
