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
                          help="people expected per team (N: every team without expected_users in the "
                               "table; TEAM=N: one team, over the table; repeatable), for the per-domain "
                               "profile capacity check")
    validate.add_argument("--profile-quota", type=_non_negative, default=None, metavar="N",
                          help="user profiles allowed per domain (Service Quotas), over each region's "
                               "user_profile_quota in accounts/ (default there: 500)")
    validate.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    validate.add_argument("--base", metavar="REF",
                          help="the git revision the change starts from: a clash between team ids is "
                               "reported on the team the change adds (default: the later one in the file)")
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
    plan.add_argument("--old-accounts", metavar="DIR", default=None,
                      help="with --old: the base's account registry (default: the same as --accounts); "
                           "with --base the registry at REF is used")
    plan.add_argument("--format", choices=("text", "json", "markdown"), default="text",
                      help="markdown: for a pull request comment")
    plan.add_argument("--max-characters", type=_non_negative, default=60_000, metavar="N",
                      help="cut the plan at about N characters with a line saying what was left off "
                           "(default 60000, under GitHub's comment limit; 0: no limit)")
    plan.set_defaults(handler=run_plan)

    compile_ = commands.add_parser(
        "compile", help="write the judged table as the JSON the Lambda loads (packaging runs it)",
        description="Judge routing.yaml as the loader does (YAML, schema, semantics, certificate "
                    "expiry) and write it compiled: format version, source SHA-256 (the hub's "
                    "RoutingDigest) and the table, with the account registry's domains (the reconcile "
                    "job surveys them, routed or not). The Lambda reads only this file, never YAML.")
    compile_.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    compile_.add_argument("--output", "-o", required=True, metavar="FILE",
                          help="where to write the compiled table (e.g. build/lambda/routing.json)")
    _registry_argument(compile_)
    compile_.set_defaults(handler=run_compile)

    hub = commands.add_parser(
        "hub-parameters",
        help="print the hub stack's parameters that routing.yaml and accounts/ decide, for sam deploy",
        description="Print BrokerAccessRoleName (the one broker-access role name of every team), "
                    "SamlEntityId, CustomAcsUrl (empty when acs_url is the API's execute-api URL), "
                    "RoutingDigest (SHA-256 of the file, which broker doctor compares), "
                    "ReconcileSpokeRoleName (accounts/rollout.yaml's hub.reconcile_role_name, the "
                    "role the rollout gives every spoke), DeploymentPreference and SourceRevision as "
                    "`sam deploy --parameter-overrides` reads them.",
        epilog="exit codes: 0 printed, 1 the table or the account registry does not load, or the "
               "teams use more than one broker-access role name, 2 usage")
    hub.add_argument("file", nargs="?", default=DEFAULT_ROUTING, help="the routing table (routing.yaml)")
    _registry_argument(hub)  # hub.reconcile_role_name: the role the reconcile job may assume
    hub.add_argument("--base", metavar="REF",
                     help="the deployed git revision: DeploymentPreference is AllAtOnce when the change "
                          "since REF only adds to routing.yaml (and accounts/), else --gradual")
    hub.add_argument("--gradual", metavar="TYPE", default="Canary10Percent5Minutes",
                     choices=("Canary10Percent5Minutes", "Canary10Percent10Minutes",
                              "Linear10PercentEvery1Minute", "Linear10PercentEvery3Minutes"),
                     help="the DeploymentPreference of any other change (default Canary10Percent5Minutes)")
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
    from broker.ops.routing_plan import GitError

    try:
        users = parse_expected_users(args.expected_users)
    except ValueError as error:
        print(f"broker routing validate: {error}", file=sys.stderr)
        return 2
    try:
        base_teams = _base_team_ids(args.base, args.file) if args.base else None
    except GitError as error:
        print(f"broker routing validate: {error}", file=sys.stderr)
        return 2
    options = check.CheckOptions(now=datetime.now(UTC), cert_warning_days=args.cert_warning_days,
                                 expected_users=users, profile_quota=args.profile_quota,
                                 base_teams=base_teams)
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


def _base_team_ids(revision: str, path: str) -> frozenset[str]:
    """The team ids of ``path`` at ``revision`` (none when the file did not exist or does not load)."""
    from broker.exceptions import ConfigurationError
    from broker.ops.routing_plan import git_show, load_table

    text = git_show(revision, path)
    if text is None:
        return frozenset()
    try:
        return frozenset(load_table(text, f"{revision}:{path}").teams)
    except ConfigurationError:
        return frozenset()  # a broken base: every team counts as the change's


def run_plan(args: argparse.Namespace) -> int:
    """``broker routing plan``; returns the exit code."""
    import tempfile
    from datetime import UTC, datetime

    from broker.exceptions import ConfigurationError
    from broker.ops import routing_check as check
    from broker.ops import routing_plan
    from broker.ops.hub_parameters import changed_files

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
    accounts = _accounts_dir(args, args.new)
    registry, findings = check.load_registry(accounts)
    old = None
    try:
        old = routing_plan.load_table(old_text, old_label) if old_text is not None else None
    except ConfigurationError as error:
        print(f"broker routing plan: the base table {old_label} does not load:", file=sys.stderr)
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    options = check.CheckOptions(now=datetime.now(UTC),
                                 base_teams=frozenset(old.teams) if old is not None else None)
    findings = check.ordered([*findings, *check.check_routing_text(new_text, args.new, registry, options)])
    if check.has_errors(findings):
        print(f"broker routing plan: {args.new} has problems (as `broker routing validate` shows them):",
              file=sys.stderr)
        print(check.render_text(args.new, findings), file=sys.stderr)
        return 1
    new = routing_plan.load_table(new_text, args.new)
    with tempfile.TemporaryDirectory(prefix="broker-plan-base-") as scratch:
        try:
            old_registry, old_templates = _base_side(args, registry, accounts, Path(scratch))
        except routing_plan.GitError as error:
            print(f"broker routing plan: {error}", file=sys.stderr)
            return 2
        except ConfigurationError as error:
            print(f"broker routing plan: the base's account registry ({args.base or args.old_accounts}) "
                  "does not load:", file=sys.stderr)
            for problem in error.problems:
                print(problem, file=sys.stderr)
            return 2
        the_plan = routing_plan.plan_routing(
            old, new, registry, old_label=old_label, new_label=args.new, old_registry=old_registry,
            old_templates=old_templates, warnings=tuple(str(f) for f in findings),
            changed_files=changed_files(args.base, args.new) if args.base else None)
    if args.format == "json":
        print(routing_plan.bounded_json(the_plan, args.max_characters))
    elif args.format == "markdown":
        print(routing_plan.render_markdown(the_plan, args.max_characters))
    else:
        print(routing_plan.render_text(the_plan, args.max_characters))
    return 0


def _base_side(args: argparse.Namespace, registry: Any, accounts: Path,
               scratch: Path) -> tuple[Any, Path | None]:
    """The base's account registry and spoke templates (``None``: the same as the head's)."""
    from broker.ops import routing_plan
    from broker.ops.accounts import load_accounts
    from broker.ops.stacksets import DEFAULT_TEMPLATES

    if registry is None:
        return None, None
    if not args.base:
        return (load_accounts(args.old_accounts) if args.old_accounts else None), None
    found = routing_plan.git_tree(args.base, accounts, scratch / "registry")
    old_registry = (load_accounts(found) if found is not None
                    else routing_plan.empty_registry(registry, f"{args.base}:{accounts}"))
    templates = None
    if routing_plan.same_work_tree(DEFAULT_TEMPLATES, Path(args.new)):
        templates = routing_plan.git_tree(args.base, DEFAULT_TEMPLATES, scratch / "templates")
    return old_registry, templates


def run_hub_parameters(args: argparse.Namespace) -> int:
    """``broker routing hub-parameters``; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops import hub_parameters as hub
    from broker.ops.accounts import load_accounts
    from broker.ops.routing_plan import GitError, git_show, load_table
    from broker.ops.routing_source import load_routing_table

    try:
        # Certificate expiry is validate's concern, not the hub's parameters'.
        table = load_routing_table(args.file, check_expiry=False)
        parameters = hub.hub_parameters(table)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    parameters["RoutingDigest"] = hub.routing_digest(Path(args.file).read_bytes())
    accounts = _accounts_dir(args, args.file)
    if accounts.is_dir():
        try:
            parameters |= hub.registry_parameters(load_accounts(accounts))
        except ConfigurationError as error:
            for problem in error.problems:
                print(problem, file=sys.stderr)
            return 1
    else:
        print(f"broker routing hub-parameters: no account registry at {accounts}: "
              "ReconcileSpokeRoleName stays the template's", file=sys.stderr)
    old, files = None, None
    if args.base:
        try:
            files = hub.changed_files(args.base, args.file)
            if files is None:
                raise GitError(f"git cannot diff against {args.base}")
            text = git_show(args.base, args.file)
            old = load_table(text, f"{args.base}:{args.file}") if text is not None else None
        except (GitError, ConfigurationError) as error:
            files = None
            print(f"broker routing hub-parameters: cannot compare with {args.base} ({error}): "
                  "deploying gradually", file=sys.stderr)
    choice = hub.deployment_preference(old, table, files, args.gradual)
    parameters["DeploymentPreference"] = choice.preference
    parameters["SourceRevision"] = hub.source_revision(args.file)
    print(f"DeploymentPreference={choice.preference}: {choice.reason}", file=sys.stderr)
    print(hub.parameter_overrides(parameters))
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
    from broker.ops.accounts import deployed_domains, load_accounts
    from broker.ops.routing_source import compile_routing_file

    if not Path(args.file).is_file():
        print(f"broker routing compile: no routing table at {args.file}", file=sys.stderr)
        return 2
    accounts = _accounts_dir(args, args.file)
    try:
        deployed = deployed_domains(load_accounts(accounts)) if accounts.is_dir() else ()
        compiled = compile_routing_file(args.file, deployed=deployed)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 1
    if not accounts.is_dir():
        print(f"broker routing compile: no account registry at {accounts}: the reconcile job will "
              "survey only the domains teams route to", file=sys.stderr)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".tmp")
    temporary.write_text(compiled, encoding="utf-8")
    temporary.replace(output)  # never a half-written table
    print(f"{args.output}: compiled from {args.file} ({len(compiled):,} bytes)")
    return 0
