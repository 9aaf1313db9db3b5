"""``broker init``: a starting ``routing.yaml`` and ``accounts/`` for the operator's organisation.

What it writes is the bootstrap state of docs/deployment.md: a routing table
with no application and no team (the hub deploys with it and refuses every
sign-in), a rollout settings file naming the hub, and one account file per
spoke with its own VPC range. Everything written is loaded back by the same
loaders as ``broker routing validate`` and ``broker rollout`` before any file
is replaced; existing files are kept unless ``--force``.

Without ``--acs-url`` (a custom domain known in advance) the table carries a
placeholder ACS URL on the reserved ``.invalid`` domain: the real one is the
hub stack's ``AcsUrl`` output, known only after the first deploy.
"""

from __future__ import annotations

import argparse
import re
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.arns import role_arn

PENDING_ACS_URL = "https://acs-url-pending.invalid/prod/saml/acs"
_SPOKE = re.compile(r"^(?P<account>[0-9]{12}):(?P<regions>[a-z0-9-]+(,[a-z0-9-]+)*)$")
EXIT_REFUSED, EXIT_USAGE = 1, 2
MAX_VPCS = 236  # 10.20.0.0/16 ... 10.255.0.0/16


@dataclass(frozen=True)
class Spoke:
    """An account and its regions, the first one the home region."""

    account_id: str
    regions: tuple[str, ...]


def add_parser(subparsers: Any) -> None:
    """Register ``broker init``."""
    init = subparsers.add_parser(
        "init", help="write a starting routing.yaml and accounts/ for your organisation (bootstrap state)",
        description="Write routing.yaml (no application, no team yet: the hub deploys with it and refuses "
                    "every sign-in), accounts/rollout.yaml and one accounts/<id>.yaml per spoke, check them "
                    "with the loaders of `broker routing validate` and `broker rollout`, and print the next "
                    "step of docs/deployment.md.",
        epilog="exit codes: 0 written, 1 refused (a file exists without --force, or what would be written "
               "does not load; nothing written), 2 usage")
    init.add_argument("--directory", metavar="DIR", default=".", help="where routing.yaml and accounts/ go")
    init.add_argument("--hub-account", metavar="ID", required=True, help="the hub account id (12 digits)")
    init.add_argument("--hub-region", metavar="REGION", required=True,
                      help="the hub's region (API Gateway, Lambda, StackSets administration)")
    init.add_argument("--spoke", metavar="ACCOUNT:REGION[,REGION]", action="append", default=[],
                      type=_spoke, help="a spoke account and its regions, home region first (repeatable)")
    init.add_argument("--entity-id", metavar="URN", default=None,
                      help="the SAML entity id (the Audience in Identity Center); "
                           "default urn:studio-broker:<hub account>")
    init.add_argument("--acs-url", metavar="URL", default=PENDING_ACS_URL,
                      help="the ACS URL when a custom domain fronts the API; default: a placeholder to "
                           "replace with the hub's AcsUrl output after its first deploy")
    init.add_argument("--broker-role-name", metavar="NAME", default="studio-broker",
                      help="the hub broker role's name (template.yaml BrokerRoleName)")
    init.add_argument("--force", action="store_true", help="replace files that exist")
    init.set_defaults(handler=run)


def _spoke(text: str) -> Spoke:
    match = _SPOKE.match(text)
    if not match:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ACCOUNT:REGION[,REGION], e.g. 111122223333:eu-west-1")
    return Spoke(match["account"], tuple(match["regions"].split(",")))


def run(args: argparse.Namespace) -> int:
    """``broker init``; returns the exit code."""
    if not re.fullmatch(r"[0-9]{12}", args.hub_account):
        print(f"broker init: --hub-account {args.hub_account!r}: expected a 12-digit account id",
              file=sys.stderr)
        return EXIT_USAGE
    accounts = [spoke.account_id for spoke in args.spoke]
    if len(set(accounts)) != len(accounts):
        print("broker init: a --spoke account is given twice", file=sys.stderr)
        return EXIT_USAGE
    if sum(len(spoke.regions) for spoke in args.spoke) > MAX_VPCS:
        print(f"broker init: at most {MAX_VPCS} account regions get a VPC range of their own (10.20-10.255); "
              "start with fewer and add account files by hand", file=sys.stderr)
        return EXIT_USAGE
    files = starting_files(hub_account=args.hub_account, hub_region=args.hub_region, spokes=args.spoke,
                           entity_id=args.entity_id or f"urn:studio-broker:{args.hub_account}",
                           acs_url=args.acs_url, broker_role_name=args.broker_role_name)
    root = Path(args.directory)
    existing = sorted(str(root / name) for name in files if (root / name).exists())
    if existing and not args.force:
        print(f"broker init: {', '.join(existing)} exist(s); nothing written (--force replaces them)",
              file=sys.stderr)
        return EXIT_REFUSED
    problems = check(files)
    if problems:
        print("broker init: what would be written does not load; nothing written:", file=sys.stderr)
        for problem in problems:
            print(problem, file=sys.stderr)
        return EXIT_REFUSED
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
        print(f"wrote {root / name}")
    print(next_steps(root, args.acs_url == PENDING_ACS_URL))
    return 0


def starting_files(*, hub_account: str, hub_region: str, spokes: list[Spoke], entity_id: str,
                   acs_url: str, broker_role_name: str) -> dict[str, str]:
    """Relative path -> text of every file ``broker init`` writes."""
    files = {
        "routing.yaml": _routing_yaml(entity_id, acs_url),
        "accounts/rollout.yaml": _rollout_yaml(hub_account, hub_region, broker_role_name),
    }
    first = 0
    for spoke in spokes:
        files[f"accounts/{spoke.account_id}.yaml"] = _account_yaml(spoke, first)
        first += len(spoke.regions)
    return files


def check(files: dict[str, str]) -> list[str]:
    """The loaders' problems with ``files`` (empty: they load), from a scratch copy."""
    from broker.exceptions import ConfigurationError
    from broker.ops.accounts import load_accounts
    from broker.ops.routing_source import parse_routing_table

    problems: list[str] = []
    try:
        parse_routing_table(files["routing.yaml"], "routing.yaml")
    except ConfigurationError as error:
        problems += error.problems
    with tempfile.TemporaryDirectory() as scratch:
        for name, text in files.items():
            if name.startswith("accounts/"):
                (Path(scratch) / Path(name).name).write_text(text, encoding="utf-8")
        try:
            load_accounts(scratch)
        except ConfigurationError as error:
            problems += error.problems
    return problems


def next_steps(root: Path, acs_url_pending: bool) -> str:
    """What to do after ``broker init``, in the order of docs/deployment.md."""
    table = root / "routing.yaml"
    steps = [
        "next (docs/deployment.md):",
        "  1. create the StackSet roles, then deploy the hub: scripts/package-lambda.sh && sam deploy "
        "--guided --capabilities CAPABILITY_NAMED_IAM "
        f"--parameter-overrides $(broker routing hub-parameters {table})",
    ]
    if acs_url_pending:
        steps.append(f"  2. put the hub's AcsUrl output into {table} (service_provider.acs_url); "
                     "deploy the hub again")
    steps += [
        "  3. put the hub's BrokerRoleArn and ReconcileRoleArn outputs into accounts/rollout.yaml "
        "(hub.broker_role_arn, hub.reconcile_role_arn), then: broker rollout apply",
        "  4. per team: a team block in routing.yaml, its Identity Center application, then "
        "broker routing add-application --metadata FILE --name NAME --team TEAM",
    ]
    return "\n".join(steps)


def _routing_yaml(entity_id: str, acs_url: str) -> str:
    pending = ("   # placeholder: the hub's AcsUrl output after its first deploy"
               if acs_url == PENDING_ACS_URL else "")
    return f"""\
# Routing table of the Studio broker, written by `broker init` (docs/deployment.md).
#
# The bootstrap state: no application and no team yet. The hub deploys with
# this table and refuses every sign-in. Each team then comes as a team block
# below and its Identity Center application (`broker routing add-application`).
version: 1

service_provider:
  entity_id: {entity_id}
  acs_url: {acs_url}{pending}
  attributes: {{user: userid, team: teamid}}

spoke_access:
  role_name: StudioBrokerAccess
  external_id: studio-broker-{secrets.token_hex(16)}

applications: []

teams: []
"""


def _rollout_yaml(hub_account: str, hub_region: str, broker_role_name: str) -> str:
    broker_role = role_arn(hub_region, hub_account, broker_role_name)
    reconcile_role = role_arn(hub_region, hub_account, "<ReconcileRoleArn output>")
    return f"""\
# Settings of every spoke rollout (`broker rollout plan|apply`), written by `broker init`.
version: 1

hub:
  # The hub stack's BrokerRoleArn output: every spoke's broker-access role trusts this role.
  broker_role_arn: {broker_role}
  region: {hub_region}
  # The hub stack's ReconcileRoleArn output: every spoke then gets the role the
  # scheduled reconcile job assumes (docs/operations.md, offboarding).
  # reconcile_role_arn: {reconcile_role}

# SELF_MANAGED: AWSCloudFormationStackSetAdministrationRole in the hub and
# AWSCloudFormationStackSetExecutionRole in each spoke (docs/deployment.md, 2).
permission_model: SELF_MANAGED
"""


def _account_yaml(spoke: Spoke, first: int) -> str:
    """The account file; its regions get the VPC ranges 10.<20 + first + i>.0.0/16, one each."""
    lines = [
        f"# Spoke account {spoke.account_id}, written by `broker init`; `broker rollout apply` deploys it.",
        "version: 1",
        f'account_id: "{spoke.account_id}"',
        "regions:",
        "  # The first region is the home region (IAM roles live there).",
    ]
    for index, region in enumerate(spoke.regions):
        second = 20 + first + index  # a /16 of its own per account and region: VPCs never overlap
        lines += [
            f"  - region: {region}",
            "    domain_name: studio",
            f"    vpc_cidr: 10.{second}.0.0/16",
            f"    private_subnet_cidrs: [10.{second}.0.0/19, 10.{second}.32.0/19]",
            "    internet_egress: false",
        ]
    return "\n".join(lines) + "\n"
