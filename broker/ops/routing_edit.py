"""Edits of ``routing.yaml`` that a command makes for the operator, comments and layout kept.

:func:`add_application` puts an Identity Center application (issuer and
certificates from its metadata, see :mod:`broker.ops.idp_metadata`) into the
table: a new entry at the end of ``applications``, or, for an issuer already
there, its new certificates beside the old ones (a certificate rotation). The
text is edited in place at the line marks PyYAML reports, so every comment and
the operator's formatting stay. The result is judged by the same loader as
``broker routing validate`` before anyone writes it: an edit that would make the
table invalid is refused with the problems, and nothing changes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from broker.exceptions import ConfigurationError
from broker.ops.idp_metadata import IdpMetadata
from broker.ops.routing_source import parse_routing_table

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s#'\"{}\[\],&*!|>%@`]*")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class RoutingEdit:
    """The new text of the table and what changed, in words."""

    text: str
    summary: str


def add_application(
    text: str, source: str, metadata: IdpMetadata, *, name: str | None, teams: Sequence[str]
) -> RoutingEdit:
    """``text`` with the application of ``metadata``; raises :class:`ConfigurationError`."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    applications = _value(root, "applications")
    if not isinstance(applications, yaml.SequenceNode):
        raise ConfigurationError([f"{source}: has no `applications:` list to add to"])
    if not applications.value:  # the bootstrap state's `applications: []`: the first one
        if not name or not teams:
            raise ConfigurationError([f"{source}: a new application needs --name and at least one --team"])
        start, end = applications.start_mark.index, applications.end_mark.index
        block = _application_block(2, name, metadata, teams)
        new_text = text[:start].rstrip(" ") + "\n" + block.rstrip("\n") + text[end:]
        summary = (f"added the first application {name!r} (issuer {metadata.issuer}) for team(s) "
                   f"{', '.join(teams)} with {len(metadata.certificates)} certificate(s)")
        return _judged(new_text, source, summary)
    lines = text.splitlines(keepends=True)
    existing = next((app for app in applications.value
                     if _scalar(_value(app, "issuer")) == metadata.issuer), None)
    if existing is None:
        if not name or not teams:
            raise ConfigurationError([f"{source}: a new application needs --name and at least one --team"])
        dash = _dash_column(lines, applications.value[0])
        block = _application_block(dash, name, metadata, teams)
        last = applications.value[-1].start_mark.line
        if len(applications.value) > 1 and not lines[last - 1].strip():
            block = "\n" + block  # the operator separates applications with a blank line
        new_text = _insert_after(lines, applications.value[-1], block)
        summary = (f"added application {name!r} (issuer {metadata.issuer}) for team(s) "
                   f"{', '.join(teams)} with {len(metadata.certificates)} certificate(s)")
    else:
        new_text, summary = _add_certificates(lines, source, existing, metadata, name, teams)
    return _judged(new_text, source, summary)


def _judged(new_text: str, source: str, summary: str) -> RoutingEdit:
    """The edit, if the loader of ``broker routing validate`` accepts the result."""
    try:
        parse_routing_table(new_text, source)
    except ConfigurationError as error:
        raise ConfigurationError([f"{source}: the edit would make the table invalid; nothing was written:",
                                  *error.problems]) from error
    return RoutingEdit(new_text, summary)


def _add_certificates(
    lines: list[str], source: str, app: yaml.Node, metadata: IdpMetadata, name: str | None,
    teams: Sequence[str],
) -> tuple[str, str]:
    app_name = _scalar(_value(app, "name"))
    if name and name != app_name:
        raise ConfigurationError([f"{source}: issuer {metadata.issuer} is already application {app_name!r}, "
                                  f"not {name!r}"])
    bound = _value(app, "teams")
    bound_teams = [_scalar(node) for node in bound.value] if isinstance(bound, yaml.SequenceNode) else []
    if teams and sorted(teams) != sorted(bound_teams):
        raise ConfigurationError([f"{source}: application {app_name!r} routes to {', '.join(bound_teams)}; "
                                  "change its teams by hand, not with a certificate"])
    listed = _value(app, "certificates")
    if not isinstance(listed, yaml.SequenceNode) or not listed.value:
        raise ConfigurationError([f"{source}: application {app_name!r} has no `certificates:` list"])
    known = {_fingerprint(_scalar(node) or "") for node in listed.value}
    new = [pem for pem in metadata.certificates if _fingerprint(pem) not in known]
    if not new:
        raise ConfigurationError([f"{source}: application {app_name!r} already lists every certificate of "
                                  "this metadata; nothing to do"])
    dash = _dash_column(lines, listed.value[0])
    block = "".join(_certificate_block(dash, pem) for pem in new)
    summary = (f"added {len(new)} certificate(s) to application {app_name!r} beside its "
               f"{len(listed.value)} (a rotation: deploy, make the new one active in Identity Center, "
               "then remove the old one)")
    return _insert_after(lines, listed.value[-1], block), summary


def _value(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((value for k, value in mapping.value if _scalar(k) == key), None)


def _scalar(node: yaml.Node | None) -> str | None:
    return node.value if isinstance(node, yaml.ScalarNode) else None


def _fingerprint(pem: str) -> bytes:
    try:
        return x509.load_pem_x509_certificate(pem.encode()).fingerprint(hashes.SHA256())
    except ValueError:
        return pem.encode()  # an unreadable entry is validate's to report; compare it as text


def _dash_column(lines: list[str], item: yaml.Node) -> int:
    """The column of the ``-`` that starts ``item`` in a block sequence."""
    line = lines[item.start_mark.line]
    return line.rfind("-", 0, item.start_mark.column)


def _insert_after(lines: list[str], last_item: yaml.Node, block: str) -> str:
    """The text with ``block`` after the last content line of ``last_item``."""
    end = last_item.end_mark.line if last_item.end_mark.column == 0 else last_item.end_mark.line + 1
    end, floor = min(end, len(lines)), last_item.start_mark.line + 1
    # Blank lines and comments before the next key belong to what follows, not to the item.
    while end > floor and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1
    before = lines[:end]
    if before and not before[-1].endswith("\n"):
        before[-1] += "\n"
    return "".join(before) + block + "".join(lines[end:])


def _application_block(dash: int, name: str, metadata: IdpMetadata, teams: Sequence[str]) -> str:
    pad = " " * dash
    certificates = "".join(_certificate_block(dash + 4, pem) for pem in metadata.certificates)
    return (f"{pad}- name: {_yaml_string(name)}\n"
            f"{pad}  issuer: {_yaml_string(metadata.issuer)}\n"
            f"{pad}  certificates:\n{certificates}"
            f"{pad}  teams: [{', '.join(_yaml_string(team) for team in teams)}]\n")


def _certificate_block(dash: int, pem: str) -> str:
    content = " " * (dash + 2)
    return " " * dash + "- |\n" + "".join(f"{content}{line}\n" for line in pem.strip().splitlines())


def _yaml_string(value: str) -> str:
    """``value`` as a YAML scalar that reads back as exactly this string."""
    plain = _NAME.fullmatch(value) or _PLAIN.fullmatch(value)
    if plain and yaml.safe_load(value) == value:
        return value
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar
