"""``broker rollout plan|apply|status|drift``: the command line of :mod:`broker.ops.rollout`.

Exit codes: 0 done (plan: whatever it shows; drift: none found), 1 an instance
failed or was skipped (apply), drift found (drift) or an instance is not
CURRENT (status), 2 invalid configuration or usage, 3 AWS could not be used
(:data:`broker.ops.aws_access.EXIT_AWS`: no credentials, an endpoint that does
not answer, credentials or a call AWS refused).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from broker.ops.aws_access import EXIT_AWS_HELP, add_aws_endpoint_argument, aws_clients, exit_on_aws_problem

if TYPE_CHECKING:
    from broker.config import RoutingTable
    from broker.ops.accounts import AccountRegistry

DEFAULT_ACCOUNTS = "accounts"
DEFAULT_ROUTING = "routing.yaml"
_MARKS = {"create": "+", "update": "~", "retry": "!", "delete": "-", "unchanged": "="}


def add_parser(subparsers: Any) -> None:
    """Register ``broker rollout`` and its subcommands."""
    rollout = subparsers.add_parser(
        "rollout", help="deploy the spoke accounts through CloudFormation StackSets",
        description="Plan, apply and inspect the spoke StackSets (accounts/ + routing.yaml).")
    commands = rollout.add_subparsers(dest="rollout_command", metavar="SUBCOMMAND", required=True)
    for name, help_text, exit_codes in (
        ("plan", "show what apply would create or change, per account and region", "0 shown"),
        ("apply", "deploy the changes and wait; non-zero exit when any instance failed",
         "0 every instance succeeded or was unchanged, 1 an instance failed or was skipped"),
        ("status", "show every deployed instance with CloudFormation's status and reason",
         "0 every instance is CURRENT, 1 one is not"),
        ("drift", "show differences between the repository and the spokes", "0 no drift, 1 drift found"),
    ):
        command = commands.add_parser(
            name, help=help_text, description=help_text,
            epilog=f"exit codes: {exit_codes}, 2 invalid configuration or usage, {EXIT_AWS_HELP}")
        command.add_argument("--accounts", default=DEFAULT_ACCOUNTS, help="the account registry directory")
        command.add_argument("--routing", default=DEFAULT_ROUTING, help="the routing table")
        command.add_argument("--templates", default=None, help="the stacksets/ directory")
        command.add_argument("--json", action="store_true", help="machine-readable output")
        add_aws_endpoint_argument(command)
        if name in ("apply", "drift"):
            command.add_argument("--poll-seconds", type=float, default=10.0,
                                 help="how often to check a running operation")
        if name == "drift":
            command.add_argument("--detect", action="store_true",
                                 help="also run CloudFormation drift detection on the spokes' resources")
        command.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run one rollout subcommand; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops import rollout
    from broker.ops.accounts import load_accounts
    from broker.ops.routing_source import load_routing_table
    from broker.ops.stacksets import DEFAULT_TEMPLATES

    templates = Path(args.templates) if args.templates else DEFAULT_TEMPLATES
    try:
        registry = load_accounts(args.accounts, templates)
        # Certificate expiry is CI's concern (routing validate), not the rollout's.
        routing = load_routing_table(args.routing, check_expiry=False)
        rollout.check_configuration(registry, routing)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return 2
    return exit_on_aws_problem(f"broker rollout {args.rollout_command}",
                               lambda: _run(args, registry, routing, templates))


def _run(args: argparse.Namespace, registry: AccountRegistry, routing: RoutingTable, templates: Path) -> int:
    from broker.ops import rollout

    clients = aws_clients(args.aws_endpoint)
    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    command = args.rollout_command
    if command == "plan":
        the_plan = rollout.plan(clients, registry, routing, templates)
        _emit(args, the_plan.to_dict(), _plan_text(the_plan))
        return 0
    if command == "apply":
        summary = rollout.apply(clients, registry, routing, templates,
                                progress=progress, poll_seconds=args.poll_seconds)
        _emit(args, summary.to_dict(), _summary_text(summary))
        return 0 if summary.ok else 1
    if command == "status":
        found = rollout.status(clients, registry, routing, templates)
        rows = [vars(item) for item in found]
        lines = [f"{i.stack_set:40} {i.account} {i.region:15} {i.status}"
                 + (f" ({i.detailed_status})" if i.detailed_status else "")
                 + (f": {i.reason}" if i.reason else "") for i in found] or ["no spoke StackSets deployed"]
        _emit(args, {"instances": rows}, lines)
        return 0 if all(i.status == "CURRENT" for i in found) else 1
    findings = rollout.drift(clients, registry, routing, templates, detect=args.detect,
                             progress=progress, poll_seconds=args.poll_seconds)
    _emit(args, {"drifted": bool(findings), "findings": findings}, findings or ["no drift"])
    return 1 if findings else 0


def _emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))


def _plan_text(the_plan: Any) -> list[str]:
    lines = []
    for stack_set in the_plan.stack_sets:
        lines.append(f"{stack_set.spec.name}  ({stack_set.spec.source})")
        for change in stack_set.stack_set_changes:
            lines.append(f"  ~ {change}")
        for instance in stack_set.instances:
            lines.append(f"  {_MARKS.get(instance.action, '?')} {instance.account} {instance.region:15} "
                         f"{instance.action}")
            lines += [f"      {detail}" for detail in instance.details]
    lines.append("Changes to apply." if the_plan.changed else "No changes.")
    return lines


def _summary_text(summary: Any) -> list[str]:
    lines = ["", "Summary:"]
    by_account: dict[str, list[Any]] = {}
    for result in summary.results:
        by_account.setdefault(result.account, []).append(result)
    for account in sorted(by_account):
        lines.append(f"  {account}")
        for r in by_account[account]:
            lines.append(f"    {r.region:15} {r.stack_set:40} {r.status:10} {r.action}"
                         + (f": {r.reason}" if r.reason else ""))
    failed = len(summary.failed)
    lines.append("All instances succeeded or were unchanged." if summary.ok
                 else f"{failed} instance(s) failed or were skipped.")
    return lines
