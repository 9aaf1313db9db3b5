"""What the spokes should look like: the StackSets, their templates, targets and parameters.

Pure functions of the account registry and the routing table (no AWS calls):

- ``<prefix>-spoke-network`` (stacksets/network.yaml): every account and region;
- ``<prefix>-spoke-access`` (stacksets/broker-access.yaml): every account with
  teams, in its home region (IAM is global);
- ``<prefix>-team-roles-<account>`` (generated): one per account with teams,
  in its home region, so a new team changes only its own spoke;
- ``<prefix>-spoke-domain`` (stacksets/domain.yaml): every account and region,
  after the network of the same account and region.

Per-instance values travel as parameter overrides; the StackSet itself holds
the shared values, and a stable placeholder for parameters every instance
overrides (AWS only lets an instance override a parameter the StackSet has).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from broker.config import RoutingTable, Team, frozen_mapping
from broker.ops.accounts import AccountRegistry, RolloutSettings, SpokeAccount, SpokeRegion
from broker.ops.team_roles import team_roles_template

DEFAULT_TEMPLATES = Path(__file__).resolve().parent.parent.parent / "stacksets"
PLACEHOLDER = "-"  # the StackSet-level value of a parameter every instance overrides
# On every StackSet; CloudFormation puts a StackSet's tags on its stacks and on the
# resources in them that take tags (CreateStackSet, Tags).
STACK_SET_TAGS = {"managed-by": "broker-rollout"}


@dataclass(frozen=True)
class Target:
    """One stack instance: account, region, its parameter overrides and (service-managed) OU."""

    account: str
    region: str
    overrides: Mapping[str, str]
    ou: str | None = None


@dataclass(frozen=True)
class StackSetSpec:
    """One StackSet as the repository describes it."""

    name: str
    source: str
    template: str
    parameters: Mapping[str, str]
    targets: tuple[Target, ...]
    depends_on: str | None = None
    description: str = ""

    def target(self, account: str, region: str) -> Target | None:
        return next((t for t in self.targets if (t.account, t.region) == (account, region)), None)


class _TemplateLoader(yaml.SafeLoader):
    """Reads CloudFormation YAML far enough to see its Parameters (short-form tags ignored)."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def declared_parameters(template: str) -> dict[str, dict[str, Any]]:
    """The ``Parameters`` section of a template."""
    return dict(_declared(template))


@functools.lru_cache(maxsize=16)
def _declared(template: str) -> dict[str, dict[str, Any]]:
    # Cached by text: a plan builds both sides' StackSets from the same few templates.
    data = yaml.load(template, Loader=_TemplateLoader)  # noqa: S506 - a SafeLoader subclass
    return dict((data or {}).get("Parameters") or {})


@dataclass(frozen=True)
class _Templated:
    """A StackSet made from a template in stacksets/: its name and its StackSet-level values."""

    name: str
    file: str
    shared: dict[str, str]


def propagated_domain_tags(templates: str | Path = DEFAULT_TEMPLATES) -> tuple[str, ...]:
    """Tag keys each spoke domain passes on to what Studio makes in it; none without tag propagation.

    With the domain's ``TagPropagation: ENABLED`` the apps, spaces and jobs of a
    profile take the domain's custom tags besides the profile's: those of the
    domain in domain.yaml and :data:`STACK_SET_TAGS`. System tags (``aws:``)
    are neither propagated nor counted.
    """
    template = yaml.load((Path(templates) / "domain.yaml").read_text(encoding="utf-8"),  # noqa: S506
                         Loader=_TemplateLoader)
    resources = (template or {}).get("Resources") or {}
    domain = next((r.get("Properties") or {} for r in resources.values()
                   if r.get("Type") == "AWS::SageMaker::Domain"), {})
    if domain.get("TagPropagation") != "ENABLED":
        return ()
    keys = [tag.get("Key") for tag in domain.get("Tags") or [] if isinstance(tag, dict)]
    keys += list(STACK_SET_TAGS)
    return tuple(dict.fromkeys(k for k in keys if isinstance(k, str) and not k.lower().startswith("aws:")))


def _templated(settings: RolloutSettings) -> dict[str, _Templated]:
    prefix = settings.stack_set_prefix
    network_paths = {
        "VpcId": f"{settings.parameter_prefix}/network/vpc-id",
        "SubnetIds": f"{settings.parameter_prefix}/network/private-subnet-ids",
        "SecurityGroupId": f"{settings.parameter_prefix}/network/studio-security-group-id",
    }
    return {
        "network": _Templated(f"{prefix}-spoke-network", "network.yaml",
                              {"ParameterPrefix": settings.parameter_prefix}),
        "access": _Templated(f"{prefix}-spoke-access", "broker-access.yaml",
                             # empty ReconcileRoleArn: the template makes no reconcile role
                             {"HubBrokerRoleArn": settings.broker_role_arn,
                              "ReconcileRoleArn": settings.reconcile_role_arn,
                              "ReconcileRoleName": settings.reconcile_role_name}),
        "domain": _Templated(f"{prefix}-spoke-domain", "domain.yaml",
                             {"ParameterPrefix": settings.parameter_prefix, **network_paths}),
    }


def instance_only_parameters(
    settings: RolloutSettings, templates: str | Path = DEFAULT_TEMPLATES
) -> dict[str, list[str]]:
    """Per StackSet: the parameters that only its instances set (no default, not shared).

    The StackSet itself holds :data:`PLACEHOLDER` for them, so a stack that
    StackSets deploys on its own (service-managed auto-deployment to an
    account joining the OU) gets the placeholder, not a value.
    """
    found = {}
    for made in _templated(settings).values():
        declared = declared_parameters((Path(templates) / made.file).read_text(encoding="utf-8"))
        names = [k for k, v in declared.items() if v.get("Default") is None and k not in made.shared]
        if names:
            found[made.name] = names
    return found


def desired_stack_sets(
    registry: AccountRegistry, routing: RoutingTable | None, templates: str | Path = DEFAULT_TEMPLATES
) -> list[StackSetSpec]:
    """Every StackSet of the spokes, in deployment order (``routing=None``: no teams yet)."""
    settings = registry.settings
    prefix = settings.stack_set_prefix
    root = Path(templates)
    made = _templated(settings)
    accounts = sorted(registry.accounts.values(), key=lambda a: a.account_id)
    teams_by_account: dict[str, list[Team]] = {}
    for team in sorted(routing.teams.values() if routing else (), key=lambda t: t.id):
        teams_by_account.setdefault(team.account_id, []).append(team)

    def ou(account: SpokeAccount) -> str | None:
        return account.organizational_unit if settings.service_managed else None

    network = _spec(
        made["network"], root,
        targets=[(a, r, _network_values(r), ou(a)) for a in accounts for r in a.regions],
        description="Studio spoke network (VPC, private subnets, endpoints)")
    access = _spec(
        made["access"], root,
        targets=[(a, a.regions[0], _access_values(teams_by_account[a.account_id]), ou(a))
                 for a in accounts if a.account_id in teams_by_account],
        description="Studio broker-access role (trusted by the hub broker role)")
    team_roles = [
        StackSetSpec(
            name=f"{prefix}-team-roles-{account.account_id}",
            source="generated from routing.yaml",
            template=team_roles_template(account.account_id, teams_by_account[account.account_id]),
            parameters=frozen_mapping({}),
            targets=(Target(account.account_id, account.home_region, frozen_mapping({}), ou(account)),),
            description=f"Studio team execution roles of account {account.account_id}",
        )
        for account in accounts if account.account_id in teams_by_account
    ]
    domain = _spec(
        made["domain"], root,
        targets=[(a, r, {"DomainName": r.domain_name, "AppNetworkAccessType": r.app_network_access_type},
                  ou(a)) for a in accounts for r in a.regions],
        depends_on=network.name,
        description="Studio SageMaker domain (IAM auth, VpcOnly, KMS)")
    return [network, access, *team_roles, domain]


def _network_values(region: SpokeRegion) -> dict[str, str]:
    zone1, zone2 = region.zones
    return {
        "VpcCidr": region.vpc_cidr,
        "PrivateSubnet1Cidr": region.private_subnet_cidrs[0],
        "PrivateSubnet2Cidr": region.private_subnet_cidrs[1],
        "AvailabilityZone1": zone1,
        "AvailabilityZone2": zone2,
        "EnableInternetEgress": "true" if region.internet_egress else "false",
        "PublicSubnet1Cidr": region.public_subnet_cidrs[0],
        "PublicSubnet2Cidr": region.public_subnet_cidrs[1],
    }


def _access_values(teams: list[Team]) -> dict[str, str]:
    access = teams[0].spoke_access  # one per account: accounts.routing_problems checks it
    return {
        "ExternalId": access.external_id,
        "RoleName": access.role_name,
        "TeamRoleArns": ",".join(sorted({t.execution_role_arn for t in teams})),
    }


def _spec(
    made: _Templated,
    root: Path,
    *,
    targets: list[tuple[SpokeAccount, SpokeRegion, dict[str, str], str | None]],
    description: str,
    depends_on: str | None = None,
) -> StackSetSpec:
    path, shared = root / made.file, made.shared
    template = path.read_text(encoding="utf-8")
    declared = declared_parameters(template)
    unknown = set(shared) - set(declared)
    if unknown:
        raise ValueError(f"{path} does not declare the parameters {sorted(unknown)}")
    built = []
    per_instance: set[str] = set()
    for account, region, values, ou in targets:
        # Free-form overrides from the account file: account-wide, then per region.
        extra = {**account.parameters, **region.parameters}
        overrides = {k: v for k, v in {**values, **extra}.items() if k in declared and k not in shared}
        per_instance |= set(overrides)
        built.append(Target(account.account_id, region.region, frozen_mapping(overrides), ou))
    parameters = dict(shared)
    for key in sorted(per_instance):
        default = declared[key].get("Default")
        parameters[key] = PLACEHOLDER if default is None else str(default)
    return StackSetSpec(
        name=made.name, source=str(path), template=template, parameters=frozen_mapping(parameters),
        targets=tuple(built), depends_on=depends_on, description=description)
