"""The YAML loader with positions."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from broker import yamlfile
from broker.exceptions import ConfigurationError
from broker.yamlfile import (
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


def test_unknown_alias_is_refused() -> None:
    assert problems_of("a: *nope\n") == ["f.yaml:1:4: a: unknown alias *nope"]


def test_alias_expansion_is_bounded() -> None:
    lines = ["l0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        lines.append(f"l{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * 10) + "]")
    (message,) = problems_of("\n".join(lines) + "\n")
    assert message.endswith("aliases expand to too many values")


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


# --- the plain builder (data first, positions on first use) ------------------------------------

PLAIN_TEXT = "a: 1\nlist:\n  - x\n  - {k: v, n: 0x10}\nq: 'yes'\n"


def full(text: str) -> tuple[object, list[str]]:
    """What the full builder alone makes of ``text``: data, positions, raw texts, problems."""
    doc, problems = yamlfile._parse_full(text, "f.yaml")
    return snapshot(doc, problems)


def snapshot(doc: yamlfile.YamlDocument | None, problems: list) -> tuple[object, list[str]]:
    shown = [str(p) for p in problems]
    if doc is None:
        return None, shown
    return (repr(doc.data), dict(doc.positions), dict(doc.key_positions), dict(doc.raw)), shown


def test_plain_document_takes_the_plain_builder_and_locates_on_first_use() -> None:
    doc, problems = parse_yaml_with_problems(PLAIN_TEXT, "f.yaml")
    assert problems == [] and doc is not None
    assert isinstance(doc.positions, yamlfile._LazyTable)
    assert doc.positions._marks._builder is None  # nothing located yet
    assert doc.position(("list", 1, "n")) == (4, 15)
    assert doc.position(("list", 1, "n"), key=True) == (4, 12)
    assert doc.raw[("list", 1, "n")] == "0x10" and ("q",) not in doc.raw
    assert snapshot(doc, problems) == full(PLAIN_TEXT)


@pytest.mark.parametrize(
    "text",
    [
        "a: &x 1\nb: 2\n",  # anchor
        "a: !!str 1\n",  # tag
        "a: ! 1\n",  # non-specific tag
        "a: {x: 1}\nb:\n  <<: {y: 2}\n",  # merge key
        "a: 1\na: 2\n",  # duplicate key
        "? [a]\n: 1\n",  # complex key
        "a: 1\n---\nb: 2\n",  # two documents
        "a: [1\n",  # syntax error
        "d: 2024-13-45\n",  # a timestamp that cannot be built
    ],
)
def test_anything_special_takes_the_full_builder(text: str) -> None:
    with pytest.raises(yamlfile._NotPlain):
        yamlfile._plain_data(text)
    assert snapshot(*parse_yaml_with_problems(text, "f.yaml")) == full(text)


def test_deep_nesting_is_parsed_whatever_the_recursion_limit() -> None:
    # libyaml allows 1000 levels; the plain builder recurses, the full one does not.
    text = "[" * 999 + "]" * 999 + "\n"
    doc, problems = parse_yaml_with_problems(text, "f.yaml")
    assert problems == [] and doc is not None
    assert doc.position((0,) * 998) == (1, 999)  # the innermost list


def test_sample_files_take_the_plain_builder() -> None:
    """The fast path is the usual path: the shipped sample and fixtures use it."""
    root = Path(__file__).resolve().parent.parent
    for path in (root / "routing.yaml", root / "tests" / "fixtures" / "routing" / "valid.yaml"):
        doc = load_yaml_file(path)
        assert isinstance(doc.positions, yamlfile._LazyTable), path


_ATOMS = st.sampled_from([
    "a", "on", "yes", "~", "null", "", "0755", "0x1F", "1_000", "1.5", ".inf", "2024-01-02",
    "2024-13-45", "'q'", '"d"', "!!str 5", "!Ref x", "&a 1", "*a", "<<", "=", "[1, yes]",
    "{k: v}", "{}", "! x", "&a {x: 1}", "'<<'", "x: y: z", "@bad", "1e3", "0b101", "12:30:00",
])
_KEYS = st.sampled_from(["a", "b", "on", "<<", "1", "'a'", '"b"', "!!str c", "&k a", "? x"])


@st.composite
def _documents(draw: st.DrawFn) -> str:
    lines = []
    for _ in range(draw(st.integers(0, 8))):
        indent = "  " * draw(st.integers(0, 2))
        form = draw(st.integers(0, 2))
        if form == 0:
            lines.append(f"{indent}{draw(_KEYS)}: {draw(_ATOMS)}")
        elif form == 1:
            lines.append(f"{indent}- {draw(_ATOMS)}")
        else:
            lines.append(f"{indent}{draw(_KEYS)}:")
    return "\n".join(lines) + "\n"


@settings(max_examples=400, deadline=None)
@given(_documents())
def test_plain_and_full_builders_agree_on_everything(text: str) -> None:
    assert snapshot(*parse_yaml_with_problems(text, "f.yaml")) == full(text)
