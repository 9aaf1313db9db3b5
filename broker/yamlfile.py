"""YAML configuration files with a line and column for every value.

Configuration files (``routing.yaml``, ``accounts/*.yaml``) are edited by people in
pull requests, so every problem must say ``file:line:column: field.path: what``.
:func:`parse_yaml` builds plain Python data straight from libyaml's event stream
(faster than composing a node graph and constructing it) and knows where each
value and each mapping key starts, by path (``("teams", 1, "region")``).

Two builders share that work. The plain one takes a document without anchors,
aliases, tags, merge keys or duplicate keys (every real configuration file) and
records nothing: positions are only needed to report a problem, so the document
computes them on first use by parsing the text again with the full builder. Any
other document, and every document with a syntax error, goes through the full
builder from the start, so its data, problems and messages come from one place.

Deliberate differences from ``yaml.safe_load``:

- duplicate keys in a mapping are an error (PyYAML silently keeps the last);
- mapping keys are always the key's text: ``on:`` is the key ``"on"``, not ``True``;
- one document per file; only the standard scalar tags; aliases are expanded by
  reference (no copy) and their total expansion is bounded.

Values use YAML 1.1 resolution as PyYAML does (``yes`` is ``True``, ``0755`` is
an octal int): the schema then reports a non-string where a string is expected,
and :func:`broker.schema_check.schema_problems` tells the reader to quote it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from broker.exceptions import ConfigurationError

PathPart = str | int
Position = tuple[int, int]  # 1-based line and column

# Billion-laughs guard: aliases share objects, but validators walk the expanded tree.
MAX_ALIAS_EXPANSION = 1_000_000

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_CONSTRUCTOR = yaml.constructor.SafeConstructor()
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"
_SCALAR_TAGS = frozenset(
    "tag:yaml.org,2002:" + name for name in ("str", "int", "float", "bool", "null", "timestamp")
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


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
    """Parsed data plus where each value (and each mapping key) starts.

    ``positions``, ``key_positions`` and ``raw`` may be computed on first use
    (see :class:`_LazyTable`): they read like dicts either way.
    """

    source: str
    data: Any
    positions: Mapping[tuple[PathPart, ...], Position]
    key_positions: Mapping[tuple[PathPart, ...], Position]
    # text of non-str scalars
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
    path = Path(path)
    shown = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError([f"{shown}:1:1: cannot read the file: {exc}"]) from exc
    return parse_yaml(text, shown)


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
    same run; syntax errors yield ``None``.
    """
    try:
        data = _plain_data(text)
    except _NotPlain:
        pass
    else:
        marks = _Marks(text, source)
        return YamlDocument(source, data, _LazyTable(marks, "positions"),
                            _LazyTable(marks, "key_positions"), _LazyTable(marks, "raw")), []
    return _parse_full(text, source)


def _parse_full(text: str, source: str) -> tuple[YamlDocument | None, list[Problem]]:
    """:func:`parse_yaml_with_problems` with the full builder, positions recorded as it goes."""
    builder = _Builder(source)
    try:
        builder.run(yaml.parse(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"invalid YAML: {exc.problem or exc.context}"
        lines = text.splitlines()
        if mark and mark.line < len(lines) and "\t" in lines[mark.line][: mark.column + 1]:
            message += " (indent with spaces, not tabs)"
        builder.problems.append(Problem(source, line, column, (), message))
    except yaml.YAMLError as exc:
        builder.problems.append(Problem(source, 1, 1, (), f"invalid YAML: {exc}"))
    except _Fatal:
        pass
    else:
        document = YamlDocument(
            source, builder.result, builder.positions, builder.key_positions, builder.raw
        )
        return document, builder.problems
    return None, builder.problems


# --- the plain builder: data only, for documents that need nothing else ------------------------


class _NotPlain(Exception):
    """The document needs the full builder (or has a problem it will report)."""


_ScalarEvent = yaml.ScalarEvent
_MappingStart = yaml.MappingStartEvent
_MappingEnd = yaml.MappingEndEvent
_SequenceStart = yaml.SequenceStartEvent
_SequenceEnd = yaml.SequenceEndEvent


def _plain_data(text: str) -> Any:
    """The data of a plain document, exactly as :class:`_Builder` would build it.

    Raises :class:`_NotPlain` at anything the full builder treats specially:
    anchors, aliases, tags, ``<<``, duplicate or non-scalar keys, several
    documents, a scalar that cannot be constructed, a syntax error.
    """
    loader = _Loader(text)
    next_event = loader.get_event  # not yaml.parse: its generator costs a third more
    try:
        if type(next_event()) is not yaml.StreamStartEvent:
            raise _NotPlain
        event = next_event()
        if type(event) is yaml.StreamEndEvent:
            return None
        if type(event) is not yaml.DocumentStartEvent:
            raise _NotPlain
        data = _plain_value(next_event, next_event())
        if type(next_event()) is not yaml.DocumentEndEvent:
            raise _NotPlain
        if type(next_event()) is not yaml.StreamEndEvent:
            raise _NotPlain
        return data
    except (yaml.YAMLError, RecursionError) as exc:  # the full builder reports it (no recursion)
        raise _NotPlain from exc
    finally:
        loader.dispose()


def _plain_value(next_event: Callable[[], Any], event: Any) -> Any:
    kind = type(event)
    if event.anchor is not None or kind is yaml.AliasEvent or event.tag is not None:
        raise _NotPlain
    if kind is _ScalarEvent:
        return _plain_scalar(event)
    if kind is _MappingStart:
        mapping: dict[str, Any] = {}
        while True:
            key = next_event()
            if type(key) is not _ScalarEvent:
                if type(key) is _MappingEnd:
                    return mapping
                raise _NotPlain  # a complex key
            text = key.value
            if text in mapping or text == "<<" or key.anchor is not None or key.tag is not None:
                raise _NotPlain
            mapping[text] = _plain_value(next_event, next_event())
    if kind is _SequenceStart:
        sequence: list[Any] = []
        append = sequence.append
        while True:
            item = next_event()
            if type(item) is _SequenceEnd:
                return sequence
            append(_plain_value(next_event, item))
    raise _NotPlain


def _implicit_tag(event: Any) -> str | None:
    """The YAML 1.1 tag an untagged scalar resolves to; ``None`` when it stays text.

    Quoted and block scalars stay text; so do ``=`` and ``<<`` as values.
    """
    text = event.value
    if not event.implicit[0]:
        return None
    for candidate, regexp in _IMPLICIT.get(text[:1], ()):
        if regexp.match(text):
            return None if candidate not in _SCALAR_TAGS or candidate == _STR else candidate
    return None


def _plain_scalar(event: Any) -> Any:
    """:meth:`_Builder._scalar` for an untagged scalar that constructs without error."""
    text = event.value
    tag = _implicit_tag(event)
    if tag is None:
        return text
    try:
        return _CONSTRUCTOR.yaml_constructors[tag](
            _CONSTRUCTOR, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark))
    except (yaml.YAMLError, ValueError) as exc:
        raise _NotPlain from exc


class _Marks:
    """Positions of a plain document, built by :class:`_Builder` when first asked for."""

    def __init__(self, text: str, source: str) -> None:
        self._text = text
        self._source = source
        self._builder: _Builder | None = None
        self._lock = threading.Lock()

    @property
    def builder(self) -> _Builder:
        with self._lock:
            if self._builder is None:
                builder = _Builder(self._source)
                builder.run(yaml.parse(self._text, Loader=_Loader))
                self._builder = builder
                self._text = ""  # not needed any more: do not keep a large file alive
            return self._builder


class _LazyTable(Mapping[tuple[PathPart, ...], Any]):
    """One of a plain document's position tables, computed on first access."""

    def __init__(self, marks: _Marks, name: str) -> None:
        self._marks = marks
        self._name = name

    def _table(self) -> dict[tuple[PathPart, ...], Any]:
        return getattr(self._marks.builder, self._name)

    def __getitem__(self, path: tuple[PathPart, ...]) -> Any:
        return self._table()[path]

    def __iter__(self) -> Iterator[tuple[PathPart, ...]]:
        return iter(self._table())

    def __len__(self) -> int:
        return len(self._table())

    def __contains__(self, path: object) -> bool:
        return path in self._table()

    def get(self, path: tuple[PathPart, ...], default: Any = None) -> Any:
        return self._table().get(path, default)


# --- the full builder --------------------------------------------------------------------------


class _Fatal(Exception):
    """Stop building: the problem is already recorded."""


class _Frame:
    __slots__ = ("anchor", "container", "explicit", "key", "merges", "path", "record", "size")

    def __init__(self, container: Any, path: tuple[PathPart, ...], anchor: str | None,
                 record: bool) -> None:
        self.container = container
        self.path = path
        self.anchor = anchor
        self.record = record
        self.size = 1
        self.key: Any = None  # pending mapping key; _NO_KEY while awaiting one
        self.merges: list[dict[str, Any]] = []
        self.explicit = True  # False while the pending value is discarded


_NO_KEY = object()
_MERGE_KEY = object()


class _Builder:
    """Turns libyaml events into plain data, recording positions by path."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[Problem] = []
        self.positions: dict[tuple[PathPart, ...], Position] = {}
        self.key_positions: dict[tuple[PathPart, ...], Position] = {}
        self.raw: dict[tuple[PathPart, ...], str] = {}
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.expanded = 0
        self.result: Any = None
        self.documents = 0

    def fail(self, event: Any, message: str, path: tuple[PathPart, ...] = ()) -> None:
        mark = event.start_mark
        self.problems.append(Problem(self.source, mark.line + 1, mark.column + 1, path, message))

    def run(self, events: Iterator[Any]) -> None:
        stack: list[_Frame] = []
        for event in events:
            kind = type(event)
            if kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                frame = stack.pop()
                value = frame.container
                if frame.merges:
                    merged: dict[str, Any] = {}
                    for source in reversed(frame.merges):  # earlier sources win
                        merged.update(source)
                    merged.update(value)
                    value = merged
                self._done(stack, value, frame.size, frame.anchor)
                continue
            if kind is yaml.DocumentStartEvent:
                self.documents += 1
                if self.documents > 1:
                    self.fail(event, "only one YAML document is allowed per file")
                    raise _Fatal
                continue
            if kind in (yaml.StreamStartEvent, yaml.StreamEndEvent, yaml.DocumentEndEvent):
                continue

            parent = stack[-1] if stack else None
            if parent is not None and isinstance(parent.container, dict) and parent.key is _NO_KEY:
                self._key(parent, event)
                continue
            if parent is None:
                path: tuple[PathPart, ...] = ()
                record = True
            elif isinstance(parent.container, list):
                path = (*parent.path, len(parent.container))
                record = parent.record
            else:
                path = (*parent.path, parent.key) if parent.key is not _MERGE_KEY else parent.path
                record = parent.record and parent.explicit and parent.key is not _MERGE_KEY
            mark = event.start_mark
            if record:
                self.positions[path] = (mark.line + 1, mark.column + 1)

            if kind is yaml.ScalarEvent:
                value = self._scalar(event, path, record)
                self._done(stack, value, 1, event.anchor)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self._check_tag(event, path)
                frame = _Frame({} if kind is yaml.MappingStartEvent else [], path,
                               event.anchor, record)
                if kind is yaml.MappingStartEvent:
                    frame.key = _NO_KEY
                stack.append(frame)
            elif kind is yaml.AliasEvent:
                if event.anchor not in self.anchors:
                    self.fail(event, f"unknown alias *{event.anchor}", path)
                    raise _Fatal
                value, size = self.anchors[event.anchor]
                self.expanded += size
                if self.expanded > MAX_ALIAS_EXPANSION:
                    self.fail(event, "aliases expand to too many values", path)
                    raise _Fatal
                self._done(stack, value, size, None)

    def _key(self, frame: _Frame, event: Any) -> None:
        if type(event) is not yaml.ScalarEvent:
            self.fail(event, "a mapping key must be a plain value", frame.path)
            raise _Fatal
        text = event.value
        if event.tag is None and event.implicit[0] and text == "<<":
            frame.key = _MERGE_KEY
            frame.explicit = True
            return
        path = (*frame.path, text)
        where = (event.start_mark.line + 1, event.start_mark.column + 1)
        if text in frame.container:
            if frame.record:
                first = self.key_positions.get(path, where)[0]
                self.problems.append(Problem(
                    self.source, where[0], where[1], path,
                    f"duplicate key {text!r} (first at line {first})"))
            frame.explicit = False  # keep the first value, discard this one
        else:
            frame.explicit = True
            if frame.record:
                self.key_positions[path] = where
        frame.key = text

    def _done(self, stack: list[_Frame], value: Any, size: int, anchor: str | None) -> None:
        if anchor is not None:
            self.anchors[anchor] = (value, size)
        if not stack:
            self.result = value
            return
        parent = stack[-1]
        parent.size += size
        if isinstance(parent.container, list):
            parent.container.append(value)
            return
        if parent.key is _MERGE_KEY:
            self._merge(parent, value)
        elif parent.explicit:
            parent.container[parent.key] = value
        parent.key = _NO_KEY

    def _merge(self, frame: _Frame, value: Any) -> None:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            line, column = self.positions.get(frame.path, (1, 1))
            self.problems.append(Problem(self.source, line, column, frame.path,
                                         "a merge key (<<) needs a mapping or a list of mappings"))
            return
        frame.merges.extend(sources)

    def _check_tag(self, event: Any, path: tuple[PathPart, ...]) -> None:
        if event.tag not in (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"):
            self.fail(event, f"unsupported YAML tag {event.tag}", path)

    def _scalar(self, event: Any, path: tuple[PathPart, ...], record: bool) -> Any:
        text = event.value
        tag = event.tag
        if tag is None:
            tag = _implicit_tag(event)
            if tag is None:
                return text
        elif tag == "!" or tag == _STR:
            return text
        elif tag not in _SCALAR_TAGS:
            self.fail(event, f"unsupported YAML tag {tag}", path)
            return text
        try:
            value = _CONSTRUCTOR.yaml_constructors[tag](
                _CONSTRUCTOR, yaml.ScalarNode(tag, text, event.start_mark, event.end_mark))
        except (yaml.YAMLError, ValueError) as exc:
            self.fail(event, f"{text!r} is not a valid {tag.rsplit(':', 1)[-1]}: {exc}", path)
            return text
        if record:
            self.raw[path] = text
        return value
