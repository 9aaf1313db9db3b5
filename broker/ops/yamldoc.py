"""YAML configuration files with a line and column for every value.

Configuration files (``routing.yaml``, ``accounts/*.yaml``) are edited by people in
pull requests, so every problem must say ``file:line:column: field.path: what``.
PyYAML (libyaml's parser when it is there) composes the node graph, whose nodes
know where they start; :func:`parse_yaml_with_problems` walks that graph once to
build plain data, record where each value and mapping key starts (by path, e.g.
``("teams", 1, "region")``) and find what PyYAML would accept silently.

This is the operator path only (``broker routing validate``, the rollout, CI):
the Lambda loads the compiled table (:mod:`broker.routing`) and never parses YAML.

Deliberate differences from ``yaml.safe_load``:

- duplicate keys in a mapping are an error (PyYAML keeps the last); the first
  value is kept so the other checks still run;
- mapping keys are always the key's text: ``on:`` is the key ``"on"``, not ``True``;
- one document per file; only the standard scalar tags;
- bounded input: the file's size, control characters (reported at their line),
  and the size of what aliases expand to, in values and in bytes (validators and
  the plan walk the expanded tree, so a small file must not expand into a large one).

Values use YAML 1.1 resolution as PyYAML does (``yes`` is ``True``, ``0755`` is
an octal int): the schema then reports a non-string where a string is expected,
and :mod:`broker.ops.schema_problems` tells the reader to quote it (from ``raw``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from broker.exceptions import ConfigurationError

PathPart = str | int
Position = tuple[int, int]  # 1-based line and column

# Input bounds. A real routing table is tens of kilobytes; 10,000 teams with their
# applications and certificates are about 9 MB (docs/performance.md).
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_EXPANDED_BYTES = MAX_FILE_BYTES  # what aliases expand to, counted as the values' text
MAX_EXPANDED_VALUES = 1_000_000      # billion-laughs guard in values

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
# What YAML 1.1 refuses in a stream (PyYAML's reader), found here first so the
# message names the line instead of a character offset.
_NOT_PRINTABLE = yaml.reader.Reader.NON_PRINTABLE


def format_path(path: Sequence[PathPart]) -> str:
    """``("teams", 1, "region")`` -> ``teams[1].region``; odd keys are quoted."""
    out: list[str] = []
    for part in path:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif _IDENTIFIER.match(part):
            out.append(f".{part}" if out else part)
        else:
            out.append(f"[{json.dumps(part)}]")
    return "".join(out)


@dataclass(frozen=True)
class Problem:
    """One configuration problem at a place in a file."""

    source: str
    line: int
    column: int
    path: tuple[PathPart, ...]
    message: str

    def __str__(self) -> str:
        where = f"{format_path(self.path)}: " if self.path else ""
        return f"{self.source}:{self.line}:{self.column}: {where}{self.message}"


def raise_problems(problems: Iterable[Problem]) -> None:
    """Raise one :class:`ConfigurationError` with all problems in file order, if any."""
    ordered = sorted(problems, key=lambda p: (p.source, p.line, p.column))
    if ordered:
        raise ConfigurationError([str(p) for p in ordered])


@dataclass(frozen=True)
class YamlDocument:
    """Parsed data plus where each value (and each mapping key) starts."""

    source: str
    data: Any
    positions: Mapping[tuple[PathPart, ...], Position]
    key_positions: Mapping[tuple[PathPart, ...], Position]
    # the text of scalars that YAML read as something other than a string
    raw: Mapping[tuple[PathPart, ...], str] = field(default_factory=dict)

    def position(self, path: Sequence[PathPart], *, key: bool = False) -> Position:
        """Where the value at ``path`` starts (or its key, with ``key=True``).

        Paths not recorded (inside a merged or aliased value) fall back to the
        nearest recorded ancestor.
        """
        path = tuple(path)
        if key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            found = self.positions.get(path)
            if found is not None:
                return found
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path: Sequence[PathPart], message: str, *, key: bool = False) -> Problem:
        """A :class:`Problem` located at ``path`` in this document."""
        line, column = self.position(path, key=key)
        return Problem(self.source, line, column, tuple(path), message)


def load_yaml_file(path: str | Path, source: str | None = None) -> YamlDocument:
    """Read and parse one YAML file; ``source`` (default: the path) names it in messages."""
    return parse_yaml(read_text(path, source or str(path)), source or str(path))


def read_text(path: str | Path, source: str) -> str:
    """The UTF-8 text of a configuration file, refusing one over :data:`MAX_FILE_BYTES`."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigurationError([str(too_large_problem(source, size))])
        # bytes decoded as they are (no newline translation): the text hashes like the file
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError([f"{source}:1:1: cannot read the file: {exc}"]) from exc


def parse_yaml(text: str, source: str) -> YamlDocument:
    """Parse one YAML document; raise :class:`ConfigurationError` on syntax errors,
    duplicate keys and unsupported constructs (all of them, in file order)."""
    document, problems = parse_yaml_with_problems(text, source)
    raise_problems(problems)
    assert document is not None  # no problems means a document was built
    return document


def parse_yaml_with_problems(text: str, source: str) -> tuple[YamlDocument | None, list[Problem]]:
    """Parse one YAML document and return it with its YAML-level problems.

    Duplicate keys and unsupported tags still yield a document (the first value
    of a duplicated key is kept), so callers can report schema problems in the
    same run; syntax errors and exceeded bounds yield ``None``.
    """
    size = len(text.encode("utf-8"))
    if size > MAX_FILE_BYTES:
        return None, [too_large_problem(source, size)]
    control = _control_characters(text, source)
    if control:
        return None, control
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
    except yaml.composer.ComposerError as exc:
        return None, [_yaml_problem(text, source, exc, _composer_message(exc))]
    except yaml.MarkedYAMLError as exc:
        return None, [_yaml_problem(text, source, exc, f"invalid YAML: {exc.problem or exc.context}")]
    except yaml.YAMLError as exc:
        return None, [Problem(source, 1, 1, (), f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    builder = _Builder(source)
    if node is not None and not builder.build(node):
        return None, builder.problems
    document = YamlDocument(source, builder.result, builder.positions, builder.key_positions,
                            builder.raw)
    return document, builder.problems


def too_large_problem(source: str, size: int) -> Problem:
    """The problem of a file of ``size`` bytes, over :data:`MAX_FILE_BYTES`."""
    return Problem(source, 1, 1, (), f"the file is {size:,} bytes: at most {MAX_FILE_BYTES:,} "
                                     "are read (is this the right file?)")


def _control_characters(text: str, source: str, limit: int = 5) -> list[Problem]:
    """Each character YAML does not allow in a stream, at its own line and column."""
    problems = []
    for match in _NOT_PRINTABLE.finditer(text):
        start = match.start()
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        problems.append(Problem(source, line, column, (),
                                f"invalid YAML: control character U+{ord(match.group()):04X} is not "
                                "allowed (delete it; an editor that shows invisible characters helps)"))
        if len(problems) == limit:
            break
    return problems


def _composer_message(exc: yaml.composer.ComposerError) -> str:
    if exc.context and "single document" in exc.context:
        return "only one YAML document is allowed per file"
    return f"invalid YAML: {exc.problem or exc.context}"


def _yaml_problem(text: str, source: str, exc: yaml.MarkedYAMLError, message: str) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    lines = text.splitlines()
    if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
        message += " (indent with spaces, not tabs)"
    return Problem(source, line, column, (), message)


class _Stop(Exception):
    """Nothing sensible can be built (a bound exceeded, a complex key); the problem is recorded."""


class _Builder:
    """Plain data from a composed node graph, recording positions by path.

    Iterative (an explicit stack), so nesting depth is bounded by the parser only.
    A node met again through an alias is not walked again: its value is shared
    and its size counted, which is what bounds the expansion.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.positions: dict[tuple[PathPart, ...], Position] = {}
        self.key_positions: dict[tuple[PathPart, ...], Position] = {}
        self.raw: dict[tuple[PathPart, ...], str] = {}
        self.result: Any = None
        self._done: dict[int, tuple[Any, int, int]] = {}  # id(node) -> (value, values, bytes)
        self._open: set[int] = set()  # containers being built: an alias to one is a cycle
        self._values = 0
        self._bytes = 0

    def build(self, root: yaml.Node) -> bool:
        """Build ``self.result``; ``False`` when a bound was exceeded."""
        try:
            self.result = self._value(root, ())
        except _Stop:
            return False
        return True

    def _located(self, node: yaml.Node, path: tuple[PathPart, ...], message: str) -> None:
        mark = node.start_mark
        self.problems.append(Problem(self.source, mark.line + 1, mark.column + 1, path, message))

    def _count(self, node: yaml.Node, path: tuple[PathPart, ...], values: int, size: int) -> None:
        self._values += values
        self._bytes += size
        if self._values > MAX_EXPANDED_VALUES or self._bytes > MAX_EXPANDED_BYTES:
            # at the alias's place in the file (the node's own marks are its anchor's)
            at = path
            while at and at not in self.positions:
                at = at[:-1]
            line, column = self.positions.get(at, (node.start_mark.line + 1, node.start_mark.column + 1))
            self.problems.append(Problem(self.source, line, column, path, (
                f"aliases expand to too many values (more than {MAX_EXPANDED_VALUES:,} values or "
                f"{MAX_EXPANDED_BYTES:,} bytes): write the shared part out where it is used, or "
                "share less")))
            raise _Stop

    def _value(self, root: yaml.Node, root_path: tuple[PathPart, ...]) -> Any:
        # A work list of (node, path, record, sink): sink(value) puts the value in its parent.
        result: list[Any] = []
        stack: list[Any] = [(root, root_path, True, result.append)]
        while stack:
            item = stack.pop()
            if callable(item):  # a container's finisher, run after its children
                item()
                continue
            node, path, record, sink = item
            seen = self._done.get(id(node))
            if seen is not None:  # an alias: share the value, count its expansion
                value, values, size = seen
                self._count(node, path, values, size)
                sink(value)
                continue
            if id(node) in self._open:
                self._located(node, path, "an alias refers to a value that contains it")
                raise _Stop
            if record:
                mark = node.start_mark
                self.positions[path] = (mark.line + 1, mark.column + 1)
            if isinstance(node, yaml.ScalarNode):
                value = self._scalar(node, path, record)
                size = len(node.value) + 1
                self._count(node, path, 1, size)
                self._done[id(node)] = (value, 1, size)
                sink(value)
            elif isinstance(node, yaml.SequenceNode):
                stack.extend(self._sequence(node, path, record, sink))
            else:
                stack.extend(self._mapping(node, path, record, sink))
        return result[0]

    def _container(self, node: yaml.Node, path: tuple[PathPart, ...], default: str) -> None:
        if node.tag not in (default, "!"):
            self._located(node, path, f"unsupported YAML tag {node.tag}")

    def _sequence(self, node: yaml.SequenceNode, path: tuple[PathPart, ...], record: bool,
                  sink: Any) -> list[Any]:
        self._container(node, path, _SEQ)
        items: list[Any] = [None] * len(node.value)
        start = (self._values, self._bytes)
        self._open.add(id(node))

        def finish() -> None:
            self._open.discard(id(node))
            value = items
            self._done[id(node)] = (value, self._values - start[0] + 1, self._bytes - start[1] + 1)
            self._count(node, path, 1, 1)
            sink(value)

        work: list[Any] = [finish]
        for index in range(len(node.value) - 1, -1, -1):
            work.append((node.value[index], (*path, index), record,
                         lambda value, index=index: items.__setitem__(index, value)))
        return work

    def _mapping(self, node: yaml.MappingNode, path: tuple[PathPart, ...], record: bool,
                 sink: Any) -> list[Any]:
        self._container(node, path, _MAP)
        own: dict[str, Any] = {}
        merges: list[Any] = []
        start = (self._values, self._bytes)
        children: list[Any] = []
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self._located(key_node, path, "a mapping key must be a plain value")
                raise _Stop
            if key_node.tag == _MERGE:
                children.append((value_node, path, False,
                                 lambda value, n=key_node: self._merge(n, path, value, merges)))
                continue
            text = key_node.value
            key_path = (*path, text)
            where = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if text in first_line:
                self._located(key_node, key_path,
                              f"duplicate key {text!r} (first at line {first_line[text]})")
                continue  # keep the first value, discard this one
            first_line[text] = where[0]
            if record:
                self.key_positions[key_path] = where
            own[text] = None
            children.append((value_node, key_path, record,
                             lambda value, text=text: own.__setitem__(text, value)))

        self._open.add(id(node))

        def finish() -> None:
            self._open.discard(id(node))
            value = own
            if merges:
                value = {}
                for source in reversed(merges):  # earlier sources win
                    value.update(source)
                value.update(own)
            self._done[id(node)] = (value, self._values - start[0] + 1, self._bytes - start[1] + 1)
            self._count(node, path, 1, 1)
            sink(value)

        return [finish, *reversed(children)]

    def _merge(self, node: yaml.Node, path: tuple[PathPart, ...], value: Any,
               merges: list[Any]) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            self._located(node, path, "a merge key (<<) needs a mapping or a list of mappings")
            return
        merges.extend(sources)

    def _scalar(self, node: yaml.ScalarNode, path: tuple[PathPart, ...], record: bool) -> Any:
        tag = node.tag
        if tag == _STR or tag == "!":
            return node.value
        if tag not in _SCALAR_TAGS:
            self._located(node, path, f"unsupported YAML tag {tag}")
            return node.value
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, node)
        except (yaml.YAMLError, ValueError) as exc:
            self._located(node, path,
                          f"{node.value!r} is not a valid {tag.rsplit(':', 1)[-1]}: {exc}")
            return node.value
        if record:
            self.raw[path] = node.value
        return value
