"""JSON Schema checks of a located YAML document: problems worded for people.

:func:`schema_problems` runs jsonschema and turns every violation into a
:class:`Problem` with the file, line, column and field of the offending value.
The operator path only: the Lambda loads a table that was judged when it was
compiled (:mod:`broker.ops.routing_source`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator

from broker.ops.yamldoc import PathPart, Problem, YamlDocument

# --- JSON Schema validation with positions ----------------------------------------------------

_TYPE_NAMES = {
    "string": "a string", "integer": "an integer", "number": "a number",
    "boolean": "true or false", "object": "a mapping", "array": "a list", "null": "null",
}


def _kind(value: Any) -> str:
    if value is None:
        return "an empty value"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "a date" if type(value).__name__ in ("date", "datetime") else type(value).__name__


def short(value: Any, limit: int = 60) -> str:
    """``repr`` of a value cut to ``limit`` characters (certificates are long)."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_problems(document: YamlDocument, validator: Validator) -> list[Problem]:
    """Every JSON Schema violation of ``document.data``, located and worded for people.

    A subschema's ``x-hint`` annotation is appended to its messages.
    """
    problems: list[Problem] = []
    seen: set[tuple[tuple[PathPart, ...], str]] = set()
    for error in validator.iter_errors(document.data):
        for problem in _describe(document, error):
            marker = (problem.path, problem.message)
            if marker not in seen:
                seen.add(marker)
                problems.append(problem)
    return problems


def _describe(document: YamlDocument, error: ValidationError) -> Iterator[Problem]:
    path = tuple(error.absolute_path)
    schema = error.schema if isinstance(error.schema, dict) else {}
    hint = schema.get("x-hint")
    keyword = error.validator
    value = error.validator_value
    instance = error.instance

    def located(message: str, at: tuple[PathPart, ...] = path, key: bool = False) -> Problem:
        return document.problem(at, f"{message} ({hint})" if hint else message, key=key)

    if "propertyNames" in error.relative_schema_path:
        yield located(f"key {short(instance)} is not allowed", (*path, instance), key=True)
    elif keyword == "additionalProperties":
        known = sorted(schema.get("properties", {}))
        for name in instance:
            if name in known:
                continue
            close = difflib.get_close_matches(str(name), known, n=1)
            tip = f"did you mean {close[0]!r}?" if close else "allowed: " + ", ".join(known)
            yield document.problem((*path, name), f"unknown field {name!r} ({tip})", key=True)
    elif keyword == "required":
        for name in value:
            if isinstance(instance, dict) and name not in instance:
                yield located(f"missing required field {name!r}")
    elif keyword == "type":
        wanted = [value] if isinstance(value, str) else list(value)
        expected = " or ".join(_TYPE_NAMES.get(t, t) for t in wanted)
        raw = document.raw.get(path)  # the text YAML read as a number, boolean, date or null
        message = f"expected {expected}, got {_kind(instance)}"
        if isinstance(instance, str):
            message += f" ({short(instance)})"
        elif raw:
            message += f" ({raw})"
            if "string" in wanted:
                message += f'; write it in quotes: "{raw}"'
        yield located(message)
    elif keyword == "pattern":
        yield located(f"{short(instance)} does not match {value}")
    elif keyword in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        bound = "at least" if keyword == "minimum" else "at most"
        if keyword.startswith("exclusive"):
            bound = "more than" if keyword == "exclusiveMinimum" else "less than"
        yield located(f"{instance} is out of range: must be {bound} {value}")
    elif keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        yield located(f"{short(instance)} has {len(instance)} characters: "
                      f"must have {bound} {value}")
    elif keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        yield located(f"has {len(instance)} entries: must have {bound} {value}")
    elif keyword in ("minProperties", "maxProperties"):
        bound = "at least" if keyword == "minProperties" else "at most"
        yield located(f"has {len(instance)} fields: must have {bound} {value}")
    elif keyword == "uniqueItems":
        yield located("has duplicate entries")
    elif keyword == "const":
        yield located(f"must be {value!r}, got {short(instance)}")
    elif keyword == "enum":
        yield located(f"{short(instance)} is not one of " + ", ".join(map(repr, value)))
    else:
        yield located(error.message if len(error.message) < 200 else error.message[:197] + "...")
