"""The policies as the rollout deploys them: templates resolved with the parameters it passes.

The parameter values come from :func:`broker.ops.stacksets.desired_stack_sets`
(the rollout's own computation) for the repository's account registry and the
routing table under test, never copied by hand. The hub's side is the one
statement of ``template.yaml`` that lets the broker assume spoke roles, found
by its Sid.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.config import RoutingTable
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.stacksets import DEFAULT_TEMPLATES, StackSetSpec, desired_stack_sets

from .calls import tag_map
from .cloudformation import Stack, load_template, role_policies
from .evaluator import Policy

REPO = Path(__file__).resolve().parent.parent.parent
HUB_STATEMENT_SID = "AssumeOnlyTheSpokeBrokerAccessRole"
# The organisation of the hub and of every registered spoke account, in these tests.
ORGANIZATION_ID = "o-a1b2c3d4e5"


@dataclass(frozen=True)
class Role:
    """A deployed role: what it is, the tags its sessions carry, what it may do, who may assume it."""

    arn: str
    tags: Mapping[str, str]
    identity: tuple[Policy, ...]
    trust: Policy


def registry() -> AccountRegistry:
    return load_accounts(REPO / "accounts")


def _spec(routing: RoutingTable, suffix: str, templates: Path) -> StackSetSpec:
    specs = desired_stack_sets(registry(), routing, templates)
    (spec,) = [s for s in specs if s.name.endswith(suffix)]
    return spec


def _deployed_role(spec: StackSetSpec, account_id: str, logical_id: str, label: str,
                   **overrides: str) -> Role:
    home = registry().accounts[account_id].home_region
    target = spec.target(account_id, home)
    assert target is not None, f"{spec.name} is not deployed to {account_id}"
    parameters = {**spec.parameters, **target.overrides, **overrides}
    return _role(spec.template, tuple(sorted(parameters.items())), account_id, home, logical_id, label)


@functools.cache
def _role(template: str, parameters: tuple[tuple[str, str], ...], account_id: str, region: str,
          logical_id: str, label: str) -> Role:
    stack = Stack(load_template(template), dict(parameters), account_id=account_id, region=region)
    props = stack.resources()[logical_id]["Properties"]
    arn = (f"arn:{stack.partition}:iam::{stack.account_id}:role"
           f"{props.get('Path', '/')}{props['RoleName']}")
    return Role(
        arn=arn,
        tags=tag_map(props.get("Tags")),
        identity=tuple(Policy.of(doc, f"{label}/{name}") for name, doc in role_policies(stack, logical_id)),
        trust=Policy.of(props["AssumeRolePolicyDocument"], f"{label}/trust"),
    )


def broker_access_role(
    routing: RoutingTable, account_id: str, *, templates: Path = DEFAULT_TEMPLATES, **overrides: str
) -> Role:
    """The spoke's broker-access role, deployed with the rollout's parameters (plus ``overrides``)."""
    spec = _spec(routing, "-spoke-access", templates)
    return _deployed_role(spec, account_id, "BrokerAccessRole", "broker-access.yaml", **overrides)


def reconcile_role(
    routing: RoutingTable, account_id: str, *, templates: Path = DEFAULT_TEMPLATES, **overrides: str
) -> Role:
    """The spoke's reconcile role, deployed with the rollout's parameters (plus ``overrides``).

    The repository's accounts/rollout.yaml names no hub reconcile role: pass
    ``ReconcileRoleArn`` (or the role does not exist and this raises KeyError).
    """
    spec = _spec(routing, "-spoke-access", templates)
    return _deployed_role(spec, account_id, "ReconcileRole", "broker-access.yaml", **overrides)


def team_roles(routing: RoutingTable, account_id: str) -> dict[str, Role]:
    """The generated team execution roles of ``account_id``, by the value of their Team tag."""
    spec = _spec(routing, f"-team-roles-{account_id}", DEFAULT_TEMPLATES)
    logical_ids = [name for name, resource in load_template(spec.template)["Resources"].items()
                   if resource["Type"] == "AWS::IAM::Role"]
    roles = [_deployed_role(spec, account_id, name, "team-roles") for name in logical_ids]
    return {role.tags["Team"]: role for role in roles}


def hub_assume_policy(text: str | None = None, account_id: str = "123456789012") -> Policy:
    """The hub broker role's statement ``AssumeOnlyTheSpokeBrokerAccessRole``, resolved."""
    template = load_template(text if text is not None else (REPO / "template.yaml").read_text())
    stack = Stack(template, account_id=account_id)
    found = [stack.resolve(statement) for statement in _statements(template)
             if statement.get("Sid") == HUB_STATEMENT_SID]
    assert len(found) == 1, f"template.yaml has {len(found)} statements {HUB_STATEMENT_SID}"
    return Policy.of({"Version": "2012-10-17", "Statement": found}, "template.yaml")


def _statements(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for resource in (template.get("Resources") or {}).values():
        for policy in (resource.get("Properties") or {}).get("Policies") or []:
            if not isinstance(policy, Mapping):
                continue  # a SAM policy template by name
            document = policy.get("PolicyDocument") or {}
            statements = document.get("Statement") or []
            out += statements if isinstance(statements, list) else [statements]
    return out
