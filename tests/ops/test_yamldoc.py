"""The operator path's YAML loader: positions, strictness and input bounds."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from broker.exceptions import ConfigurationError
from broker.ops import yamldoc
from broker.ops.yamldoc import (
    format_path,
    load_yaml_file,
    parse_yaml,
    parse_yaml_with_problems,
)


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        parse_yaml(text, "f.yaml")
    return caught.value.problems


def test_values_and_keys_have_one_based_positions() -> None:
    doc = parse_yaml("a: 1\nlist:\n  - x\n  - {k: v}\n", "f.yaml")
    assert doc.data == {"a": 1, "list": ["x", {"k": "v"}]}
    assert doc.position(("a",)) == (1, 4)
    assert doc.position(("a",), key=True) == (1, 1)
    assert doc.position(("list", 0)) == (3, 5)
    assert doc.position(("list", 1, "k")) == (4, 9)
    assert doc.position(("list", 1, "k"), key=True) == (4, 6)
    # an unknown path falls back to its nearest recorded ancestor
    assert doc.position(("list", 1, "missing", 3)) == (4, 5)


def test_problem_names_file_line_column_and_field() -> None:
    doc = parse_yaml("teams:\n  - region: x\n", "routing.yaml")
    assert str(doc.problem(("teams", 0, "region"), "bad")) == "routing.yaml:2:13: teams[0].region: bad"
    assert str(doc.problem((), "empty")) == "routing.yaml:1:1: empty"


def test_duplicate_keys_are_refused_at_every_level() -> None:
    assert problems_of("a: 1\nb:\n  c: 1\n  c: 2\na: 3\n") == [
        "f.yaml:4:3: b.c: duplicate key 'c' (first at line 3)",
        "f.yaml:5:1: a: duplicate key 'a' (first at line 1)",
    ]


def test_duplicate_key_keeps_first_value_for_further_checks() -> None:
    doc, problems = parse_yaml_with_problems("a: 1\na: {x: 2}\n", "f.yaml")
    assert doc is not None and doc.data == {"a": 1}
    assert [str(p) for p in problems] == ["f.yaml:2:1: a: duplicate key 'a' (first at line 1)"]
    assert doc.position(("a",)) == (1, 4)  # the discarded value did not move the position


def test_keys_are_text_values_follow_yaml_1_1() -> None:
    doc = parse_yaml(
        "on: yes\n123: 0x10\nq: '012'\nn: ~\ne:\nf: 1.5\nd: 2024-01-02\ns: !!str 5\n", "f.yaml"
    )
    assert doc.data["on"] is True
    assert doc.data["123"] == 16
    assert doc.data["q"] == "012"
    assert doc.data["n"] is None and doc.data["e"] is None
    assert doc.data["f"] == 1.5
    assert str(doc.data["d"]) == "2024-01-02"
    assert doc.data["s"] == "5"
    assert doc.raw[("123",)] == "0x10"
    assert ("q",) not in doc.raw and ("s",) not in doc.raw


def test_syntax_error_names_its_line() -> None:
    assert problems_of("a: [1, 2\nb: 3\n") == [
        "f.yaml:2:2: invalid YAML: did not find expected ',' or ']'"
    ]


def test_tab_indentation_gets_a_hint() -> None:
    (message,) = problems_of("a:\n\tb: 1\n")
    assert message.startswith("f.yaml:2:1: invalid YAML: ")
    assert message.endswith("(indent with spaces, not tabs)")


def test_one_document_per_file() -> None:
    assert problems_of("a: 1\n---\nb: 2\n") == [
        "f.yaml:2:1: only one YAML document is allowed per file"
    ]


def test_unsupported_tags_are_refused() -> None:
    assert problems_of("a: !Ref x\nb: !!python/object x\n") == [
        "f.yaml:1:4: a: unsupported YAML tag !Ref",
        "f.yaml:2:4: b: unsupported YAML tag tag:yaml.org,2002:python/object",
    ]


def test_complex_key_is_refused() -> None:
    assert problems_of("? [a, b]\n: 1\n") == ["f.yaml:1:3: a mapping key must be a plain value"]


def test_aliases_and_merge_keys() -> None:
    text = (
        "base: &base {a: 1, b: 2}\n"
        "more: &more {c: 3}\n"
        "team:\n"
        "  <<: [*base, *more]\n"
        "  b: 20\n"
        "copy: *base\n"
    )
    doc = parse_yaml(text, "f.yaml")
    assert doc.data["team"] == {"a": 1, "b": 20, "c": 3}
    assert doc.data["copy"] == {"a": 1, "b": 2}
    assert doc.position(("team", "b")) == (5, 6)
    assert doc.position(("team", "a")) == (4, 3)  # merged: located at the mapping


def test_merge_of_a_scalar_is_refused() -> None:
    assert problems_of("a: &x 1\nb:\n  <<: *x\n") == [
        "f.yaml:3:3: b: a merge key (<<) needs a mapping or a list of mappings"
    ]


def test_unknown_alias_is_refused_at_its_line() -> None:
    (message,) = problems_of("a: 1\nb: *nope\n")
    assert message.startswith("f.yaml:2:4: invalid YAML: ")


def test_alias_expansion_is_bounded() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    doc, problems = parse_yaml_with_problems("\n".join(lines) + "\n", "f.yaml")
    assert doc is None
    (message,) = map(str, problems)
    assert "aliases expand to too many values" in message and message.startswith("f.yaml:6:5: l5[")


def test_empty_document_is_none() -> None:
    assert parse_yaml("# nothing\n", "f.yaml").data is None


def test_load_yaml_file_reports_unreadable_file(tmp_path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigurationError) as caught:
        load_yaml_file(missing, "accounts/nope.yaml")
    (message,) = caught.value.problems
    assert message.startswith("accounts/nope.yaml:1:1: cannot read the file: ")


def test_load_yaml_file_parses(tmp_path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("x: [1]\n", encoding="utf-8")
    doc = load_yaml_file(path)
    assert doc.source == str(path) and doc.data == {"x": [1]}


@pytest.mark.parametrize(
    ("path", "shown"),
    [
        (("teams", 1, "region"), "teams[1].region"),
        (("tags", "aws:cost"), 'tags["aws:cost"]'),
        ((0, "a"), "[0].a"),
        (("user_settings", "JupyterServerAppSettings"), "user_settings.JupyterServerAppSettings"),
    ],
)
def test_format_path(path: tuple, shown: str) -> None:
    assert format_path(path) == shown


# --- bounds and locations that PyYAML alone would not give --------------------------------------


def test_alias_expansion_is_bounded_in_bytes_not_only_in_values() -> None:
    """A few long strings shared many times: few values, many bytes (the plan printed 540 MB)."""
    long = "x" * 60_000
    lines = [f"s: &s [{long}, {long}]"]
    for level in range(1, 5):
        below = "s" if level == 1 else f"l{level - 1}"
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*{below}"] * 12) + "]")
    text = "\n".join(lines) + "\n"
    assert len(text) < 200_000
    doc, problems = parse_yaml_with_problems(text, "f.yaml")
    assert doc is None
    (message,) = map(str, problems)
    assert "aliases expand to too many values" in message
    assert f"{yamldoc.MAX_EXPANDED_BYTES:,} bytes" in message


def test_shared_values_within_the_bounds_are_shared_not_copied() -> None:
    doc = parse_yaml("base: &b {a: [1, 2]}\none: *b\ntwo: *b\n", "f.yaml")
    assert doc.data["one"] is doc.data["two"] is doc.data["base"]


def test_an_alias_to_its_own_container_is_refused() -> None:
    doc, problems = parse_yaml_with_problems("a: &x [1, *x]\n", "f.yaml")
    assert doc is None
    (message,) = map(str, problems)
    assert message.startswith("f.yaml:1:4: a[1]: ") and "contains it" in message


def test_control_character_is_reported_at_its_line_and_column() -> None:
    text = "a: 1\nteams:\n  - id: ab\x07c\n"
    assert problems_of(text) == [
        "f.yaml:3:11: invalid YAML: control character U+0007 is not allowed "
        "(delete it; an editor that shows invisible characters helps)"
    ]


def test_file_over_the_size_bound_is_refused_before_parsing(tmp_path: Path) -> None:
    text = "a: " + "x" * yamldoc.MAX_FILE_BYTES + "\n"
    doc, problems = parse_yaml_with_problems(text, "big.yaml")
    assert doc is None
    (message,) = map(str, problems)
    assert message.startswith("big.yaml:1:1: the file is ")
    path = tmp_path / "big.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError) as caught:
        load_yaml_file(path, "big.yaml")
    assert caught.value.problems == [message]


def test_deep_nesting_is_parsed_whatever_the_recursion_limit() -> None:
    # libyaml allows 1000 levels; the builder walks the node graph with its own stack.
    text = "[" * 999 + "]" * 999 + "\n"
    doc, problems = parse_yaml_with_problems(text, "f.yaml")
    assert problems == [] and doc is not None
    assert doc.position((0,) * 998) == (1, 999)  # the innermost list


_NAMES = st.text(alphabet="abcdefghij_-", min_size=1, max_size=6).filter(
    lambda name: name[0].isalpha())
# YAML line breaks (NEL, LS, PS) and control characters do not survive a dump as text
_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"),
                              exclude_characters="\x85\u2028\u2029\ufeff"), max_size=8)
_SCALARS = st.one_of(_TEXT, st.integers(), st.booleans(), st.none(),
                     st.floats(allow_nan=False))
_DATA = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=4)
                     | st.dictionaries(_NAMES, inner, max_size=4), max_leaves=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_NAMES, _DATA, min_size=1, max_size=5), st.booleans())
def test_data_is_what_pyyaml_reads_and_every_key_is_located(data: dict, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, allow_unicode=True)
    doc, problems = parse_yaml_with_problems(text, "f.yaml")
    assert problems == [] and doc is not None
    assert doc.data == yaml.safe_load(text) == data
    lines = text.splitlines()
    for key in data:
        line, column = doc.position((key,), key=True)
        assert lines[line - 1][column - 1:].startswith(key)
