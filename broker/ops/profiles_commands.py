"""``broker profiles reconcile`` and ``broker audit USER``: the command lines of offboarding.

Exit codes of ``broker profiles reconcile``: 0 surveyed (and, with
``--apply``, every orphan deleted), 1 a spoke could not be surveyed or a
deletion failed, 2 the routing table does not load (or usage), 3 AWS could
not be used, the Identity Store included (:data:`broker.ops.aws_access.EXIT_AWS`;
nothing is deleted then), 4 more orphans than ``--max`` (nothing deleted).
``broker audit``: 0, 1 a spoke could not be read, 2, 3 the same.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import Any

from broker.ops.aws_access import (
    EXIT_AWS,
    EXIT_AWS_HELP,
    add_aws_endpoint_argument,
    aws_clients,
    exit_on_aws_problem,
)

EXIT_REFUSED = 4
DEFAULT_SPOKE_ROLE = "OrganizationAccountAccessRole"


def add_parser(subparsers: Any) -> None:
    """Register ``broker profiles reconcile`` and ``broker audit``."""
    from broker.reconcile import DEFAULT_MAX

    profiles = subparsers.add_parser("profiles", help="user profiles in the spokes: reconcile (offboarding)")
    commands = profiles.add_subparsers(dest="profiles_command", metavar="COMMAND", required=True)
    reconcile = commands.add_parser(
        "reconcile", help="find (and with --apply delete) profiles of people who left, or of teams that left",
        description="Lists every user profile in every spoke domain of the routing table and of the account "
                    "registry (accounts/: the domain a team left behind) and matches it to "
                    "its person (the User tag the broker set) and team (Team tag). Orphans: the team left "
                    "the table, the person left the Identity Store, or is in none of the team's groups. "
                    "Profiles not made by the broker are reported as foreign and never deleted. A dry run "
                    "unless --apply; apply deletes apps, waits until they are Deleted, then spaces, then the "
                    "profile. Home directories on the domain's EFS volume are kept.",
        epilog=f"exit codes: 0 done, 1 a spoke could not be surveyed or a deletion failed, 2 the routing "
               f"table or the account registry does not load, {EXIT_AWS_HELP} "
               f"(an Identity Store that does not answer included: "
               f"nothing is deleted), {EXIT_REFUSED} more orphans than --max (nothing deleted)")
    _common(reconcile)
    reconcile.add_argument("--apply", action="store_true", help="delete the orphans (default: a dry run)")
    reconcile.add_argument("--max", type=int, default=DEFAULT_MAX, metavar="N",
                           help=f"refuse to delete more than N profiles in one run (default {DEFAULT_MAX})")
    reconcile.add_argument("--poll-seconds", type=float, default=5.0, help=argparse.SUPPRESS)
    reconcile.set_defaults(handler=run_reconcile)

    audit = subparsers.add_parser(
        "audit", help="one person's profiles in every spoke, and the CloudTrail query of what they did",
        description="For one person (their signed user id): the user profile in each team's domain (team, "
                    "created, last modified, apps running) and the CloudTrail Lake query and "
                    "`aws cloudtrail lookup-events` commands that list their actions (by SourceIdentity).",
        epilog=f"exit codes: 0 done, 1 a spoke could not be read, 2 the routing table or the account "
               f"registry does not load, {EXIT_AWS_HELP}")
    audit.add_argument("user", metavar="USER", help="the person's user id, as the IdP signs it (userid)")
    _common(audit)
    audit.set_defaults(handler=run_audit)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--routing", default="routing.yaml", help="the routing table")
    parser.add_argument("--accounts", metavar="DIR", default=None,
                        help="the account registry, whose domains are looked at too, routed or not: a "
                             "team that left leaves its profiles there (default: accounts/ next to the "
                             "routing table)")
    parser.add_argument("--spoke-role", default=DEFAULT_SPOKE_ROLE, metavar="NAME",
                        help="the role to assume in every spoke (default: Organizations' own, assumable "
                             "from the management account)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_aws_endpoint_argument(parser)


def _table(args: argparse.Namespace, prog: str) -> Any:
    """The routing table with the registry's domains; ``None`` when either does not load."""
    from broker.exceptions import ConfigurationError
    from broker.ops.routing_source import load_routing_table

    try:
        table = load_routing_table(args.routing, check_expiry=False)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{prog}: fix these first (broker routing validate shows them all)", file=sys.stderr)
        return None
    return _with_deployed_domains(args, table, prog)


def run_reconcile(args: argparse.Namespace) -> int:
    """``broker profiles reconcile``; returns the exit code."""
    prog = "broker profiles reconcile"
    if args.max < 0:
        print(f"{prog}: --max must be 0 or more", file=sys.stderr)
        return 2
    table = _table(args, prog)
    if table is None:
        return 2
    return exit_on_aws_problem(prog, lambda: _reconcile(args, table, prog))


def _with_deployed_domains(args: argparse.Namespace, table: Any, prog: str) -> Any:
    """``table`` with the registry's domains (a team that left leaves its profiles in its domain);
    ``None`` when the registry does not load."""
    import dataclasses
    from pathlib import Path

    from broker.exceptions import ConfigurationError
    from broker.ops.accounts import deployed_domains, load_accounts

    accounts = Path(args.accounts) if args.accounts else Path(args.routing).parent / "accounts"
    if not accounts.is_dir():
        # a progress line, like "surveying ...": what this run covers, not a failure
        print(f"no account registry at {accounts}: only the domains teams route to are looked at (a "
              "team that left the table is not found in its old domain; pass --accounts DIR)",
              file=sys.stderr)
        return table
    try:
        registry = load_accounts(accounts)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print(f"{prog}: fix the account registry first (broker routing validate shows it)", file=sys.stderr)
        return None
    return dataclasses.replace(table, deployed_domains=deployed_domains(registry))


def _reconcile(args: argparse.Namespace, table: Any, prog: str) -> int:
    from broker import reconcile
    from broker.exceptions import IdentityStoreUnavailable
    from broker.membership import MembershipResolver

    clients = aws_clients(args.aws_endpoint)
    spokes = reconcile.spoke_role_clients(clients, args.spoke_role, reconcile.spoke_external_ids(table))
    members = MembershipResolver(clients, table.identity_store) if table.identity_store else None

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        report = reconcile.survey(table, spokes, members, progress)
    except IdentityStoreUnavailable as error:
        print(f"{prog}: the Identity Store could not be read ({error.reason}): nothing was deleted; try "
              "again later, or check identity_store in routing.yaml and its reader role "
              "(docs/deployment.md)", file=sys.stderr)
        return EXIT_AWS
    now = datetime.now(UTC)
    if args.apply:
        try:
            reconcile.apply(report, spokes, args.max, progress,
                            reconcile.Waiting(poll_seconds=args.poll_seconds))
        except reconcile.TooManyOrphans as refused:
            print(render_reconcile(report, now, args.max) if not args.json
                  else json.dumps(report.as_dict(now), indent=2))
            print(f"{prog}: {refused}: nothing was deleted; check the list, then run again with "
                  f"--max {refused.found} (or fix routing.yaml / the groups if they are wrong)",
                  file=sys.stderr)
            return EXIT_REFUSED
    print(json.dumps(report.as_dict(now), indent=2) if args.json else render_reconcile(report, now, args.max))
    failed = any(f.action.startswith("failed") for f in report.findings)
    return 1 if report.problems or failed else 0


def render_reconcile(report: Any, now: datetime, max_deletions: int) -> str:
    """One line per profile (action, verdict, where, team, user, age, apps, spaces, reason), then totals."""
    lines = []
    for f in report.findings:
        apps = ", ".join(f"{a.space + '/' if a.space else ''}{a.app_type}/{a.app_name} {a.status}"
                         for a in f.apps) or "none"
        lines.append(f"{f.action:<8} {f.verdict:<8} {f.profile}  {f.account_id} {f.region} {f.domain_id}  "
                     f"team={f.team or '-'} user={f.user or '-'} age={f.age_days(now)}d  apps: {apps}  "
                     f"spaces: {', '.join(f.spaces) or 'none'}  ({f.reason})")
    for problem in report.problems:
        lines.append(f"PROBLEM  {problem}")
    counts = report.counts()
    lines.append(f"{len(report.findings)} profiles: " + ", ".join(
        f"{counts.get(v, 0)} {v}" for v in ("live", "orphan", "foreign", "review", "deleting")))
    orphans = len(report.orphans)
    if report.applied:
        deleted = sum(f.action == "deleted" for f in report.findings)
        lines.append(f"applied: {deleted} of {orphans} orphans deleted (apps, then spaces, then the profile)")
    elif orphans:
        lines.append(f"dry run: nothing was changed; --apply deletes the {orphans} orphans "
                     f"(at most --max {max_deletions} per run)")
    else:
        lines.append("dry run: nothing to delete")
    from broker.reconcile import HOME_DIRECTORIES

    lines.append(HOME_DIRECTORIES)
    return "\n".join(lines)


def run_audit(args: argparse.Namespace) -> int:
    """``broker audit USER``; returns the exit code."""
    table = _table(args, "broker audit")
    if table is None:
        return 2
    return exit_on_aws_problem("broker audit", lambda: _audit(args, table))


def _audit(args: argparse.Namespace, table: Any) -> int:
    from broker import reconcile
    from broker.ops import audit

    clients = aws_clients(args.aws_endpoint)
    result = audit.audit(table, reconcile.spoke_role_clients(clients, args.spoke_role), args.user)
    print(json.dumps(result.as_dict(), indent=2) if args.json else audit.render(result))
    return 1 if result.problems else 0
