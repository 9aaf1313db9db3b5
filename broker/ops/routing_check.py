"""``broker routing validate``: every problem of a routing table, each under a stable rule id.

Three sources of findings, reported together in file order:

1. the loader's own checks (:func:`broker.ops.routing_source.routing_problems`: YAML, JSON
   Schema, and the semantic checks the runtime relies on), each message sorted
   under a rule id by :data:`LOADER_RULES`;
2. checks against the account registry (``accounts/``) and the team-roles
   StackSet (:mod:`broker.ops.team_roles`): accounts, regions, domains,
   execution roles;
3. advisory checks: certificates that expire soon, disabled teams, per-domain
   profile capacity.

A finding is an ``error`` (CI fails) or a ``warning`` (shown, CI passes). The
rule catalogue and the checks of 2 and 3 live in :mod:`broker.ops.routing_rules`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from broker.exceptions import ConfigurationError
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.routing_rules import (
    ERROR,
    RULE_FUNCTIONS,
    RULES,
    WARNING,
    CheckOptions,
    Finding,
    Rule,
    RuleContext,
    finding,
)
from broker.ops.routing_source import staged_problems
from broker.ops.yamldoc import MAX_FILE_BYTES, Problem, parse_yaml_with_problems, too_large_problem
from broker.routing import build_routing_table

# The loader's messages, by rule id; the first match wins (tests keep them in step).
LOADER_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule_id, re.compile(pattern)) for rule_id, pattern in (
        ("yaml-duplicate-key", r"^duplicate key "),
        ("yaml-too-large", r"^(the file is [0-9,]+ bytes|aliases expand to too many values)"),
        ("yaml-syntax", r"^(invalid YAML|only one YAML document|an alias refers to"
                        r"|a mapping key must|unsupported YAML tag|a merge key|.* is not a valid )"),
        ("routing-empty", r"^the routing table is empty"),
        ("attribute-names-equal", r"^the user and team attributes"),
        ("team-id-duplicate", r"^duplicate team id "),
        ("application-duplicate", r"^duplicate application (name|issuer) "),
        ("certificate-expired", r"^certificate .* expired on "),
        ("certificate-not-yet-valid", r"^certificate .* is not valid before "),
        ("certificate-weak-key", r"^certificate .* has a signing key the broker refuses "),
        ("certificate-invalid", r"^(expected exactly one PEM certificate|not a valid PEM X\.509)"),
        ("team-unknown", r"^unknown team "),
        ("team-bound-twice", r" is already bound to application "),
        ("team-unrouted", r"^no application routes to team "),
        ("application-teams-source",
         r"^an application (needs exactly one of teams|with teams_from: membership )"),
        ("execution-role-account", r"^the execution role is in account "),
        ("execution-role-partition", r"^the role's partition "),
        ("team-tag-reserved",
         r"^(the Team tag is always|tag key .* differs from the reserved|tag key .* is reserved)"),
        ("cidr-invalid", r"^not a network in CIDR form"),
        ("user-settings-execution-role", r"^ExecutionRole is set from"),
    ))
_SCHEMA_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (rule_id, re.compile(pattern)) for rule_id, pattern in (
        ("schema-unknown-field", r"^unknown field "),
        ("schema-required", r"^missing required field "),
        ("schema-type", r"^expected .*, got "),
        ("schema-range", r" is out of range: "),
    ))


def has_errors(findings: Iterable[Finding], *, strict: bool = False) -> bool:
    """Whether CI should fail: any error (with ``strict``, any finding)."""
    return any(strict or f.severity == ERROR for f in findings)


def ordered(findings: Iterable[Finding]) -> list[Finding]:
    """Findings in file order."""
    return sorted(findings, key=lambda f: (f.problem.source, f.problem.line, f.problem.column, f.rule))


# --- entry points ------------------------------------------------------------------------------


def check_routing_file(
    path: str | Path, registry: AccountRegistry | None, options: CheckOptions | None = None
) -> list[Finding]:
    """Every finding of the routing table in ``path`` (an unreadable file raises ``OSError``)."""
    size = Path(path).stat().st_size
    if size > MAX_FILE_BYTES:  # not even read: the runtime and the plan must never meet it
        return [finding("yaml-too-large", too_large_problem(str(path), size))]
    text = Path(path).read_text(encoding="utf-8")
    return check_routing_text(text, str(path), registry, options)


def check_routing_text(
    text: str, source: str, registry: AccountRegistry | None, options: CheckOptions | None = None
) -> list[Finding]:
    """Every finding of a routing table given as YAML ``text``; ``registry=None`` skips the
    registry checks. In file order."""
    options = options or CheckOptions()
    now = options.now or datetime.now(UTC)
    document, problems = parse_yaml_with_problems(text, source)
    if document is None:
        return ordered(_classified(problems, set()))
    schema_found, semantic = staged_problems(document, now=now)
    problems += schema_found + semantic
    schema = {(p.path, p.message) for p in schema_found}  # to classify the problems above
    findings = list(_classified(problems, schema))
    table = None
    if not any(f.rule.startswith(("schema-", "yaml-", "routing-")) for f in findings):
        try:
            table = build_routing_table(document.data, source)
        except (KeyError, TypeError, ValueError):  # defensive: the schema should rule these out
            table = None
    context = RuleContext(document, registry, options, now, table,
                       {f.problem.path for f in findings})
    for rule in RULE_FUNCTIONS:
        findings += rule(context)
    return ordered(findings)


def load_registry(directory: str | Path) -> tuple[AccountRegistry | None, list[Finding]]:
    """The account registry in ``directory``, or ``None`` with findings that say why."""
    root = Path(directory)
    if not root.is_dir():
        message = (f"no account registry at {root}: account, region and execution role checks "
                   "were skipped (pass --accounts DIR)")
        return None, [finding("accounts-missing", Problem(str(root), 1, 1, (), message))]
    try:
        return load_accounts(root), []
    except ConfigurationError as error:
        return None, [finding("accounts-invalid", _parse_location(line)) for line in error.problems]


def _parse_location(text: str) -> Problem:
    match = re.match(r"^(.*?):(\d+):(\d+): (.*)$", text, re.S)
    if not match:
        return Problem("accounts", 1, 1, (), text)
    return Problem(match[1], int(match[2]), int(match[3]), (), match[4])


def _classified(problems: Iterable[Problem], schema: set[tuple[Any, str]]) -> Iterator[Finding]:
    for problem in problems:
        if (problem.path, problem.message) in schema:
            yield finding(_schema_rule(problem), problem)
            continue
        rule = next((r for r, regexp in LOADER_RULES if regexp.search(problem.message)), None)
        yield finding(rule or "schema-value", problem)


def _schema_rule(problem: Problem) -> str:
    path = problem.path
    is_team_id = (len(path) == 3 and path[0] == "teams" and path[2] == "id") or (
        len(path) == 4 and path[0] == "applications" and path[2] == "teams")
    if is_team_id and " does not match " in problem.message:
        return "team-id-invalid"
    return next((r for r, regexp in _SCHEMA_RULES if regexp.search(problem.message)), "schema-value")


# --- output ------------------------------------------------------------------------------------


def summary_line(source: str, findings: list[Finding]) -> str:
    """``routing.yaml: 1 error, 2 warnings`` (or ``no problems``)."""
    errors = sum(f.severity == ERROR for f in findings)
    warnings = len(findings) - errors
    if not findings:
        return f"{source}: no problems"
    return f"{source}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def render_text(source: str, findings: list[Finding]) -> str:
    """One line per finding, then a summary line."""
    return "\n".join([*map(str, findings), summary_line(source, findings)])


def render_json(source: str, findings: list[Finding], *, strict: bool = False) -> str:
    """A JSON document with every finding and the counts."""
    errors = sum(f.severity == ERROR for f in findings)
    return json.dumps({"file": source, "ok": not has_errors(findings, strict=strict), "errors": errors,
                       "warnings": len(findings) - errors,
                       "findings": [f.to_dict() for f in findings]}, indent=2)


def render_github(source: str, findings: list[Finding]) -> str:
    """GitHub Actions workflow commands: each finding becomes an annotation on its line."""
    lines = []
    for f in findings:
        p = f.problem
        properties = ",".join(f"{key}={_escape(str(value), property_value=True)}" for key, value in (
            ("file", p.source), ("line", p.line), ("col", p.column), ("title", f.rule)))
        where = f"{f.field}: " if p.path else ""
        lines.append(f"::{f.severity} {properties}::{_escape(where + p.message)}")
    lines.append(summary_line(source, findings))
    return "\n".join(lines)


def _escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


__all__ = [
    "ERROR", "RULES", "WARNING", "CheckOptions", "Finding", "Rule", "check_routing_file",
    "check_routing_text", "finding", "has_errors", "load_registry", "ordered", "render_github",
    "render_json", "render_text",
]
