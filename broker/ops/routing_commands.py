"""``broker routing validate|plan|hub-parameters|add-application|compile``: the routing table's command line.

``validate`` exit codes: 0 no errors (warnings allowed; with ``--strict`` none
either), 1 problems, 2 usage (bad arguments, unreadable file). ``plan`` exit
codes: 0 the plan was shown, 1 the new routing table has errors (listed), 2
usage (bad arguments, unreadable file, unknown git revision, base table that
does not load). ``hub-parameters`` exit codes: 0 printed, 1 the table does not
load or its teams use more than one broker-access role name, 2 usage.
``add-application`` exit codes: 0 written, 1 refused (nothing written), 2 usage.
``compile`` exit codes: 0 written, 1 the table has errors (nothing written), 2 usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

DEFAULT_ROUTING = "routing.yaml"


def add_parser(subparsers: Any) -> None:
    """Register ``broker routing`` with ``validate``, ``plan``, ``hub-parameters``, ``add-application``
    and ``compile``."""
    routing = subparsers.add_parser(
        "routing", help="validate routing.yaml and show what a change of it does",
        description="Check the routing table and plan the effect of a change (CI runs the same).")
    commands = routing.add_subparsers(dest="routing_command", metavar="SUBCOMMAND", required=True)

    validate = commands.add_parser(
        "validate", help="report every problem with file, line, field, rule id and a hint",
        description="Schema and semantic checks of a routing table, against the account registry.")
    validate.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    _registry_argument(validate)
    validate.add_argument("--format", choices=("text", "json", "github"), default="text",
                          help="github: workflow annotations on the file's lines")
    validate.add_argument("--cert-warning-days", type=_non_negative, default=30, metavar="N",
                          help="warn about certificates that expire within N days (default 30)")
    validate.add_argument("--expected-users", action="append", default=[], metavar="[TEAM=]N",
                          help="people expected per team (N: every team; TEAM=N: one team; repeatable), "
                               "for the per-domain profile capacity check")
    validate.add_argument("--profile-quota", type=_non_negative, default=500, metavar="N",
                          help="user profiles allowed per domain (Service Quotas; default 500)")
    validate.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    validate.set_defaults(handler=run_validate)

    plan = commands.add_parser(
        "plan", help="what a change of routing.yaml does: teams, spokes, profiles, Identity Center",
        description="Compare two routing tables by effect: --base REF (git) or --old FILE.")
    source = plan.add_mutually_exclusive_group(required=True)
    source.add_argument("--base", metavar="REF", help="compare with the file at this git revision")
    source.add_argument("--old", metavar="FILE", help="compare with this file")
    plan.add_argument("--new", metavar="FILE", default=DEFAULT_ROUTING,
                      help="the changed routing table (default routing.yaml)")
    _registry_argument(plan)
    plan.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                      help="markdown: for a pull request comment")
    plan.set_defaults(handler=run_plan)

    compile_ = commands.add_parser(
        "compile", help="write the judged table as the JSON the Lambda loads (packaging runs it)",
        description="Judge routing.yaml as the loader does (YAML, schema, semantics, certificate "
                    "expiry) and write it compiled: format version, source SHA-256 (the hub's "
                    "RoutingDigest) and the table. The Lambda reads only this file, never YAML.")
    compile_.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    compile_.add_argument("--output", "-o", required=True, metavar="FILE",
                          help="where to write the compiled table (e.g. build/lambda/routing.json)")
    compile_.set_defaults(handler=run_compile)

    hub = commands.add_parser(
        "hub-parameters", help="print the hub stack's parameters that routing.yaml decides, for sam deploy",
        description="Print BrokerAccessRoleName (the one broker-access role name of every team), "
                    "SamlEntityId, CustomAcsUrl (empty when acs_url is the API's execute-api URL) and "
                    "RoutingDigest (SHA-256 of the file, which broker doctor compares) as "
                    "`sam deploy --parameter-overrides` reads them.",
        epilog="exit codes: 0 printed, 1 the table does not load or its teams use more than one "
               "broker-access role name, 2 usage")
    hub.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    hub.set_defaults(handler=run_hub_parameters)

    add = commands.add_parser(
        "add-application", help="put an Identity Center application into routing.yaml from its metadata file",
        description="Read the IAM Identity Center SAML metadata file of a custom SAML application (console: "
                    "the application's page, 'IAM Identity Center SAML metadata file') and add its issuer "
                    "and signing certificate to routing.yaml, comments and layout kept. An issuer already "
                    "in the table gets the new certificate beside its old one (a certificate rotation). "
                    "The edited table must pass the loader's checks, or nothing is written.",
        epilog="exit codes: 0 written, 1 the metadata or the edit is refused (nothing written), 2 usage. "
               "Then: broker routing validate, broker routing plan --base origin/main, a pull request.")
    add.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    add.add_argument("--metadata", metavar="FILE", required=True, help="the application's metadata XML")
    add.add_argument("--name", metavar="NAME", help="the application's name in routing.yaml (new ones)")
    add.add_argument("--team", metavar="TEAM", action="append", default=[], dest="teams",
                     help="a team this application routes to (new ones; repeatable)")
    add.set_defaults(handler=run_add_application)


def _registry_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--accounts", metavar="DIR", default=None,
                        help="the account registry (default: accounts/ next to the routing table)")


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {value}")
    return value


def parse_expected_users(values: list[str]) -> dict[str, int]:
    """``["40", "team2=120"]`` -> ``{"*": 40, "team2": 120}``; raises ``ValueError``."""
    users: dict[str, int] = {}
    for value in values:
        team, _, number = value.rpartition("=")
        if not number.isdigit():
            raise ValueError(f"--expected-users {value!r}: expected N or TEAM=N with a whole number N")
        users[team or "*"] = int(number)
    return users


def _accounts_dir(args: argparse.Namespace, routing_file: str) -> Path:
    return Path(args.accounts) if args.accounts else Path(routing_file).parent / "accounts"


def run_validate(args: argparse.Namespace) -> int:
    """``broker routing validate``; returns the exit code."""
    from datetime import UTC, datetime

    from broker.ops import routing_check as check

    try:
        users = parse_expected_users(args.expected_users)
    except ValueError as error:
        print(f"broker routing validate: {error}", file=sys.stderr)
        return 2
    options = check.CheckOptions(now=datetime.now(UTC), cert_warning_days=args.cert_warning_days,
                                 expected_users=users, profile_quota=args.profile_quota)
    registry, findings = check.load_registry(_accounts_dir(args, args.file))
    try:
        findings = check.ordered([*findings, *check.check_routing_file(args.file, registry, options)])
    except (OSError, UnicodeDecodeError) as error:
        print(f"broker routing validate: cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    if args.format == "json":
        print(check.render_json(args.file, findings, strict=args.strict))
    elif args.format == "github":
        print(check.render_github(args.file, findings))
    else:
        print(check.render_text(args.file, findings))
    return 1 if check.has_errors(findings, strict=args.strict) else 0


def run_plan(args: argparse.Namespace) -> int:
    """``broker routing plan``; returns the exit code."""
    import json

    from broker.exceptions import ConfigurationError
    from broker.ops import routing_plan
    from broker.ops.routing_check import load_registry

    try:
        new_text = Path(args.new).read_text(encoding="utf-8")
        if args.base:
            old_text = routing_plan.git_show(args.base, args.new)
            old_label = f"{args.base}:{args.new}"
        else:
            old_text = Path(args.old).read_text(encoding="utf-8")
            old_label = args.old
    except (OSError, UnicodeDecodeError, routing_plan.GitError) as error:
        print(f"broker routing plan: {error}", file=sys.stderr)
        return 2
    try:
        new = routing_plan.load_table(new_text, args.new)
    except ConfigurationError as error:
        print(f"broker routing plan: {args.new} has problems (see `broker routing validate`):",
              file=sys.stderr)
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    try:
        old = routing_plan.load_table(old_text, old_label) if old_text is not None else None
    except ConfigurationError as error:
        print(f"broker routing plan: the base table {old_label} does not load:", file=sys.stderr)
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    registry, _ = load_registry(_accounts_dir(args, args.new))
    the_plan = routing_plan.plan_routing(old, new, registry, old_label=old_label, new_label=args.new)
    if args.format == "json":
        print(json.dumps(the_plan.to_dict(), indent=2))
    elif args.format == "markdown":
        print(routing_plan.render_markdown(the_plan))
    else:
        print(routing_plan.render_text(the_plan))
    return 0


def run_hub_parameters(args: argparse.Namespace) -> int:
    """``broker routing hub-parameters``; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops.hub_parameters import hub_parameters, parameter_overrides, routing_digest
    from broker.ops.routing_source import load_routing_table

    try:
        # Certificate expiry is validate's concern, not the hub's parameters'.
        parameters = hub_parameters(load_routing_table(args.file, check_expiry=False))
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    parameters["RoutingDigest"] = routing_digest(Path(args.file).read_bytes())
    print(parameter_overrides(parameters))
    return 0


def run_add_application(args: argparse.Namespace) -> int:
    """``broker routing add-application``; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops.idp_metadata import read_idp_metadata
    from broker.ops.routing_edit import add_application

    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        print(f"broker routing add-application: cannot read {args.file}: {error}", file=sys.stderr)
        return 2
    try:
        edit = add_application(text, args.file, read_idp_metadata(args.metadata),
                               name=args.name, teams=args.teams)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    path.write_text(edit.text, encoding="utf-8")
    print(f"{args.file}: {edit.summary}")
    print(f"next: broker routing validate {args.file}; broker routing plan --base origin/main; "
          "open a pull request")
    return 0


def run_compile(args: argparse.Namespace) -> int:
    """``broker routing compile``; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops.routing_source import compile_routing_file

    if not Path(args.file).is_file():
        print(f"broker routing compile: no routing table at {args.file}", file=sys.stderr)
        return 2
    try:
        compiled = compile_routing_file(args.file)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text(compiled, encoding="utf-8")
    temporary.replace(output)  # never a half-written table
    print(f"{args.output}: compiled from {args.file} ({len(compiled):,} bytes)")
    return 0
