"""``broker doctor``: the command line of :mod:`broker.ops.doctor`.

Exit codes: 0 every check ok (warnings allowed), 1 a check failed, 2 the
routing table or the account registry does not load (or usage), 3 AWS could
not be used (:data:`broker.ops.aws_access.EXIT_AWS`).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from broker.ops.aws_access import EXIT_AWS_HELP, add_aws_endpoint_argument, aws_clients, exit_on_aws_problem


def add_parser(subparsers: Any) -> None:
    """Register ``broker doctor``."""
    doctor = subparsers.add_parser(
        "doctor", help="check every link of the sign-in chain, read-only, and say how to fix what is broken",
        description="Read-only checks, in the order a sign-in meets them: the routing table, each "
                    "application's certificates, the hub stack and its outputs against routing.yaml and "
                    "accounts/, the replay table, and per team in its spoke the domain, the execution role "
                    "and the broker-access role. The last step of a deployment and of onboarding a team.",
        epilog=f"exit codes: 0 all ok (warnings allowed), 1 a check failed, 2 the routing table or "
               f"account registry does not load, {EXIT_AWS_HELP}")
    doctor.add_argument("--routing", default="routing.yaml", help="the routing table")
    doctor.add_argument("--accounts", default="accounts", help="the account registry directory")
    doctor.add_argument("--stack-name", default="studio-broker", help="the hub stack's name (sam deploy)")
    doctor.add_argument("--spoke-role", default="OrganizationAccountAccessRole", metavar="NAME",
                        help="a read-capable role the operator may assume in every spoke "
                             "(default: Organizations' own, assumable from the management account)")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    add_aws_endpoint_argument(doctor)
    doctor.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """``broker doctor``; returns the exit code."""
    from broker.exceptions import ConfigurationError
    from broker.ops.accounts import load_accounts
    from broker.ops.routing_source import load_routing_table

    try:
        registry = load_accounts(args.accounts)
        # Expiry is one of the doctor's own checks, with a fix, not a reason to stop.
        table = load_routing_table(args.routing, check_expiry=False)
    except ConfigurationError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        print("broker doctor: fix these first (broker routing validate shows them all)", file=sys.stderr)
        return 2
    return exit_on_aws_problem("broker doctor", lambda: _run(args, table, registry))


def _run(args: argparse.Namespace, table: Any, registry: Any) -> int:
    from pathlib import Path

    from broker.ops import doctor
    from broker.ops.hub_parameters import routing_digest

    options = doctor.DoctorOptions(stack_name=args.stack_name, spoke_role=args.spoke_role,
                                   routing_digest=routing_digest(Path(args.routing).read_bytes()))
    checks = doctor.examine(aws_clients(args.aws_endpoint), table, registry, options)
    print(doctor.render_json(checks) if args.json else doctor.render_text(checks))
    return 1 if doctor.worst(checks) == doctor.FAIL else 0
