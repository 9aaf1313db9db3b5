"""JSON Schema checks of a located YAML document: problems worded for people.

:func:`schema_problems` turns every violation into a :class:`Problem` with the
file, line, column and field of the offending value. :func:`compile_schema_check`
compiles this project's schema keywords into a fast yes/no check, so a valid
document (the usual case, and every Lambda cold start) never pays for
jsonschema; jsonschema then only explains a document the check refuses.

Why not ``fastjsonschema``: it implements drafts 4-7, where keywords beside a
``$ref`` are ignored, and our schema relies on one (``spoke_access`` adds
``required`` beside its ``$ref``). The check here is tested to agree with
jsonschema on generated documents (tests/test_schema_check.py).
"""

from __future__ import annotations

import difflib
import numbers
import re
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from broker.yamlfile import PathPart, Problem, YamlDocument

if TYPE_CHECKING:  # jsonschema costs ~50 ms to import; a valid file never needs it
    from jsonschema import ValidationError
    from jsonschema.protocols import Validator

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


def schema_problems(
    document: YamlDocument, validator: Validator, *, quick: SchemaCheck | None = None
) -> list[Problem]:
    """Every JSON Schema violation of ``document.data``, located and worded for people.

    A subschema's ``x-hint`` annotation is appended to its messages. ``quick``
    (from :func:`compile_schema_check` of the validator's schema) answers for a
    valid document; ``validator`` then only explains a document it refuses.
    """
    if quick is not None and quick(document.data):
        return []
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



# --- a compiled yes/no check for the schemas' keywords ------------------------------------------

SchemaCheck = Callable[[Any], bool]
_DRAFT_2020_12 = "https://json-schema.org/draft/2020-12/schema"
# Keywords that never refuse anything (x-... are this project's annotations).
_ANNOTATIONS = frozenset({"$schema", "$comment", "$defs", "title", "description", "default",
                          "examples", "deprecated", "readOnly", "writeOnly"})
_STRING_KEYWORDS = ("pattern", "minLength", "maxLength")
_NUMBER_KEYWORDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
_ARRAY_KEYWORDS = ("items", "minItems", "maxItems", "uniqueItems")
_OBJECT_KEYWORDS = ("properties", "additionalProperties", "required", "minProperties",
                    "maxProperties", "propertyNames")
_KEYWORDS = frozenset({"$ref", "type", "const", "enum", *_STRING_KEYWORDS, *_NUMBER_KEYWORDS,
                       *_ARRAY_KEYWORDS, *_OBJECT_KEYWORDS})
_SCALARS = (str, int, float, bool, type(None))


class _Unsupported(Exception):
    """The schema uses something the compiled check does not implement."""


def compile_schema_check(schema: Mapping[str, Any]) -> SchemaCheck | None:
    """A fast yes/no check of a JSON Schema (draft 2020-12, formats not asserted), or ``None``.

    Whatever it accepts, ``Draft202012Validator(schema)`` accepts too; it may
    refuse a few valid oddities (an integer written as ``5.0``, duplicate checks
    of lists that hold more than strings), which the validator then clears. It
    implements this project's keywords (type, const, enum, local ``$ref``,
    string, number, array and object limits, properties, required,
    additionalProperties, propertyNames); a schema using any other keyword, or a
    ``$schema`` other than 2020-12, gets ``None``: validate it with jsonschema alone.
    """
    if schema.get("$schema", _DRAFT_2020_12) != _DRAFT_2020_12:
        return None
    try:
        return _SchemaCompiler(schema).compile(schema, top=True)
    except _Unsupported:
        return None


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all(checks: list[SchemaCheck]) -> SchemaCheck:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda value: first(value) and second(value)

    return lambda value: all(one(value) for one in checks)


def _same(one: Any, two: Any) -> bool:
    """Scalar equality that, like jsonschema, tells ``True`` from ``1`` (stricter on ``1.0``)."""
    return type(one) is type(two) and one == two


def _is_integer(value: Any) -> bool:
    return type(value) is int  # jsonschema also takes 5.0: refusing it only costs a slow path


def _is_number(value: Any) -> bool:
    return type(value) is int or type(value) is float


_TYPE_CHECKS: dict[str, SchemaCheck] = {
    "string": lambda value: isinstance(value, str),
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "integer": _is_integer,
    "number": _is_number,
}


class _SchemaCompiler:
    """Compiles a schema into closures; ``$ref`` targets once each."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, SchemaCheck] = {}

    def compile(self, schema: Any, *, top: bool = False) -> SchemaCheck:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, dict):
            raise _Unsupported
        for keyword in schema:
            if keyword == "$id" and top:
                continue
            if keyword not in _KEYWORDS and keyword not in _ANNOTATIONS \
                    and not keyword.startswith("x-"):
                raise _Unsupported(keyword)

        checks: list[SchemaCheck] = []
        types = schema.get("type")
        if isinstance(types, str):
            types = [types]
        if types is not None:
            if not isinstance(types, list) or not types \
                    or not all(name in _TYPE_CHECKS for name in types):
                raise _Unsupported("type")
            # A lone type whose keywords are compiled below is checked by them.
            lone = types[0] if len(types) == 1 else None
            if lone not in ("string", "array", "object") or not self._has(schema, lone):
                checks.append(_any_type([_TYPE_CHECKS[name] for name in types]))
        else:
            lone = None
        if "const" in schema:
            checks.append(self._enum([schema["const"]]))
        if "enum" in schema:
            checks.append(self._enum(schema["enum"]))
        if self._has(schema, "string"):
            checks.append(self._string(schema, lone == "string"))
        if self._has(schema, "number"):
            checks.append(self._number(schema))
        if self._has(schema, "array"):
            checks.append(self._array(schema, lone == "array"))
        if self._has(schema, "object"):
            checks.append(self._object(schema, lone == "object"))
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"]))
        return _all(checks)

    @staticmethod
    def _has(schema: Mapping[str, Any], kind: str) -> bool:
        keywords = {"string": _STRING_KEYWORDS, "number": _NUMBER_KEYWORDS,
                    "array": _ARRAY_KEYWORDS, "object": _OBJECT_KEYWORDS}[kind]
        return any(keyword in schema for keyword in keywords)

    def _ref(self, ref: Any) -> SchemaCheck:
        if not isinstance(ref, str) or not (ref == "#" or ref.startswith("#/")):
            raise _Unsupported("$ref")
        if ref in self.refs:
            return self.refs[ref]
        target: Any = self.root
        for token in ref[2:].split("/") if ref != "#" else ():
            token = token.replace("~1", "/").replace("~0", "~")
            if not isinstance(target, dict) or token not in target:
                raise _Unsupported("$ref")
            target = target[token]
        # A reference cycle calls through the table; the table is filled below.
        self.refs[ref] = lambda value: self.refs[ref](value)
        self.refs[ref] = check = self.compile(target)
        return check

    @staticmethod
    def _enum(options: Any) -> SchemaCheck:
        if not isinstance(options, list) or not all(type(o) in _SCALARS for o in options):
            raise _Unsupported("enum")
        return lambda value: any(_same(value, option) for option in options)

    @staticmethod
    def _string(schema: Mapping[str, Any], required: bool) -> SchemaCheck:
        pattern = schema.get("pattern")
        search = re.compile(pattern).search if pattern is not None else None
        shortest = _limit(schema, "minLength", 0)
        longest = _limit(schema, "maxLength", None)

        def check(value: Any) -> bool:
            if not isinstance(value, str):
                return not required
            if search is not None and search(value) is None:
                return False
            size = len(value)
            return size >= shortest and (longest is None or size <= longest)

        return check

    @staticmethod
    def _number(schema: Mapping[str, Any]) -> SchemaCheck:
        bounds = []
        for keyword in _NUMBER_KEYWORDS:
            if keyword in schema:
                bound = schema[keyword]
                if not _is_number(bound):
                    raise _Unsupported(keyword)
                bounds.append((keyword, bound))

        def check(value: Any) -> bool:
            if isinstance(value, bool) or not isinstance(value, numbers.Number):
                return True  # not a number: these keywords do not apply
            if not _is_number(value):
                return False  # Decimal and friends: leave them to jsonschema
            for keyword, bound in bounds:
                if keyword == "minimum" and not value >= bound \
                        or keyword == "maximum" and not value <= bound \
                        or keyword == "exclusiveMinimum" and not value > bound \
                        or keyword == "exclusiveMaximum" and not value < bound:
                    return False
            return True

        return check

    def _array(self, schema: Mapping[str, Any], required: bool) -> SchemaCheck:
        items = self.compile(schema["items"]) if "items" in schema else None
        fewest = _limit(schema, "minItems", 0)
        most = _limit(schema, "maxItems", None)
        unique = schema.get("uniqueItems", False)
        if not isinstance(unique, bool):
            raise _Unsupported("uniqueItems")

        def check(value: Any) -> bool:
            if not isinstance(value, list):
                return not required
            size = len(value)
            if size < fewest or most is not None and size > most:
                return False
            if unique and size > 1:
                kinds = {type(item) for item in value}
                if kinds != {str} and kinds != {int}:
                    return False  # jsonschema compares other values its own way
                if len(set(value)) != size:
                    return False
            if items is not None:
                for item in value:
                    if not items(item):
                        return False
            return True

        return check

    def _object(self, schema: Mapping[str, Any], required: bool) -> SchemaCheck:
        properties = schema.get("properties", {})
        if not isinstance(properties, dict):
            raise _Unsupported("properties")
        known = {name: self.compile(sub) for name, sub in properties.items()}
        additional = schema.get("additionalProperties", True)
        other = None if additional is True else self.compile(additional)
        names = self.compile(schema["propertyNames"]) if "propertyNames" in schema else None
        needed = schema.get("required", [])
        if not isinstance(needed, list) or not all(isinstance(n, str) for n in needed):
            raise _Unsupported("required")
        fewest = _limit(schema, "minProperties", 0)
        most = _limit(schema, "maxProperties", None)

        def check(value: Any) -> bool:
            if not isinstance(value, dict):
                return not required
            size = len(value)
            if size < fewest or most is not None and size > most:
                return False
            for name in needed:
                if name not in value:
                    return False
            for name, item in value.items():
                if names is not None and not names(name):
                    return False
                sub = known.get(name) if type(name) is str else None
                if sub is None:
                    if type(name) is not str:
                        return False  # not JSON: leave it to jsonschema
                    if other is not None and not other(item):
                        return False
                elif not sub(item):
                    return False
            return True

        return check


def _any_type(checks: list[SchemaCheck]) -> SchemaCheck:
    if len(checks) == 1:
        return checks[0]
    return lambda value: any(check(value) for check in checks)


def _limit(schema: Mapping[str, Any], keyword: str, default: int | None) -> Any:
    value = schema.get(keyword, default)
    if value is not default and (type(value) is not int or value < 0):
        raise _Unsupported(keyword)
    return value
