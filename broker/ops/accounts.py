"""The spoke account registry: ``accounts/<account id>.yaml`` plus ``accounts/rollout.yaml``.

Validated like ``routing.yaml`` (line-aware YAML, JSON Schema, semantic checks;
every problem as ``file:line:column: field.path: message``) and turned into
typed, immutable objects. :func:`routing_problems` checks that every team of
a routing table points at a registered account and region.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator

from broker.arns import partition
from broker.config import DeployedDomain, RoutingTable, frozen_mapping
from broker.exceptions import ConfigurationError
from broker.ops.schema_problems import schema_problems
from broker.ops.yamldoc import Problem, YamlDocument, parse_yaml_with_problems, raise_problems

SETTINGS_FILE = "rollout.yaml"
DEFAULT_VPC_CIDR = "10.20.0.0/16"
DEFAULT_PRIVATE_SUBNETS = ("10.20.0.0/19", "10.20.32.0/19")
DEFAULT_PUBLIC_SUBNETS = ("10.20.192.0/24", "10.20.193.0/24")


@functools.cache
def accounts_schema() -> dict[str, Any]:
    """The account file's JSON Schema (package data); ``$defs/rollout`` is the settings file's."""
    text = resources.files("broker").joinpath("schemas/accounts.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def _validators() -> tuple[Draft202012Validator, Draft202012Validator]:
    schema = accounts_schema()
    rollout = {"$ref": "#/$defs/rollout", "$defs": schema["$defs"]}
    return Draft202012Validator(schema), Draft202012Validator(rollout)


@dataclass(frozen=True)
class OperationPreferences:
    """StackSet operation preferences, as the StackSets API names them."""

    max_concurrent_percentage: int = 100
    failure_tolerance_percentage: int = 0
    region_concurrency_type: str = "PARALLEL"
    concurrency_mode: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The ``OperationPreferences`` parameter of the StackSets API."""
        preferences: dict[str, Any] = {
            "MaxConcurrentPercentage": self.max_concurrent_percentage,
            "FailureTolerancePercentage": self.failure_tolerance_percentage,
            "RegionConcurrencyType": self.region_concurrency_type,
        }
        if self.concurrency_mode:
            preferences["ConcurrencyMode"] = self.concurrency_mode
        return preferences


@dataclass(frozen=True)
class RolloutSettings:
    """Shared settings of every spoke rollout (``accounts/rollout.yaml``)."""

    broker_role_arn: str
    hub_region: str = "us-east-1"
    # The hub's ReconcileRoleArn output; empty: the spokes get no reconcile role.
    reconcile_role_arn: str = ""
    reconcile_role_name: str = "StudioBrokerReconcile"  # the hub's ReconcileSpokeRoleName
    stack_set_prefix: str = "studio"
    parameter_prefix: str = "/studio-broker"
    permission_model: str = "SELF_MANAGED"
    call_as: str | None = None
    administration_role_arn: str | None = None
    execution_role_name: str | None = None
    auto_deployment: bool = False
    preferences: OperationPreferences = field(default_factory=OperationPreferences)

    @property
    def service_managed(self) -> bool:
        return self.permission_model == "SERVICE_MANAGED"


@dataclass(frozen=True)
class SpokeRegion:
    """One region of a spoke account: its domain and network."""

    region: str
    domain_name: str
    app_network_access_type: str = "VpcOnly"
    vpc_cidr: str = DEFAULT_VPC_CIDR
    private_subnet_cidrs: tuple[str, str] = DEFAULT_PRIVATE_SUBNETS
    availability_zones: tuple[str, str] | None = None
    internet_egress: bool = False
    public_subnet_cidrs: tuple[str, str] = DEFAULT_PUBLIC_SUBNETS
    parameters: Mapping[str, str] = field(default_factory=lambda: frozen_mapping({}))
    user_profile_quota: int | None = None  # None: not stated, the check assumes its default

    @property
    def zones(self) -> tuple[str, str]:
        """The two Availability Zones: as configured, else ``<region>a`` and ``<region>b``."""
        return self.availability_zones or (f"{self.region}a", f"{self.region}b")


@dataclass(frozen=True)
class SpokeAccount:
    """One registered spoke account."""

    account_id: str
    source: str
    regions: tuple[SpokeRegion, ...]
    name: str | None = None
    organizational_unit: str | None = None
    parameters: Mapping[str, str] = field(default_factory=lambda: frozen_mapping({}))

    @property
    def home_region(self) -> str:
        """Where account-wide (IAM) resources are deployed: the first region listed."""
        return self.regions[0].region

    def region(self, code: str) -> SpokeRegion | None:
        """The configuration of region ``code``, if the account uses it."""
        return next((r for r in self.regions if r.region == code), None)


@dataclass(frozen=True)
class AccountRegistry:
    """Every spoke account, by account id, and the shared rollout settings."""

    source: str
    settings: RolloutSettings
    accounts: Mapping[str, SpokeAccount]


def load_accounts(directory: str | Path, templates: str | Path | None = None) -> AccountRegistry:
    """Read and validate ``directory``: ``rollout.yaml`` and one ``<account id>.yaml`` per spoke.

    ``templates`` (default: the repository's stacksets/) are the spoke templates
    the settings are checked against. Raises :class:`ConfigurationError` listing
    every problem of every file.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ConfigurationError([f"{root}:1:1: the accounts directory does not exist"])
    account_validator, rollout_validator = _validators()
    problems: list[Problem] = []
    documents: list[YamlDocument] = []
    settings_doc: YamlDocument | None = None
    for path in sorted(root.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(Problem(str(path), 1, 1, (), f"cannot read the file: {exc}"))
            continue
        document, found = parse_yaml_with_problems(text, str(path))
        problems += found
        if document is None:
            continue
        if document.data is None:
            problems.append(document.problem((), "the file is empty"))
        elif path.name == SETTINGS_FILE:
            settings_doc = document
            problems += schema_problems(document, rollout_validator)
        elif path.stem.isdigit() and len(path.stem) == 12:
            documents.append(document)
            problems += schema_problems(document, account_validator)
            problems += _account_problems(document, path.stem)
        else:
            problems.append(document.problem(
                (), "unexpected file: name account files <12-digit account id>.yaml "
                    f"and the shared settings {SETTINGS_FILE}"))
    if settings_doc is None:
        problems.append(Problem(str(root / SETTINGS_FILE), 1, 1, (),
                                "missing: the rollout settings (hub.broker_role_arn) live here"))
    if not documents:
        problems.append(Problem(str(root), 1, 1, (), "no account files (<12-digit account id>.yaml)"))
    if settings_doc is not None and not problems:
        problems += _partition_problems(settings_doc, documents)
        problems += _service_managed_problems(settings_doc, documents)
        problems += _auto_deployment_problems(settings_doc, templates)
    raise_problems(problems)
    assert settings_doc is not None
    accounts = {doc.data["account_id"]: _account(doc) for doc in documents}
    return AccountRegistry(str(root), _settings(settings_doc.data), MappingProxyType(accounts))


def deployed_domains(registry: AccountRegistry) -> tuple[DeployedDomain, ...]:
    """Every domain the rollout makes, by account and region."""
    return tuple(DeployedDomain(account.account_id, region.region, region.domain_name)
                 for account in sorted(registry.accounts.values(), key=lambda a: a.account_id)
                 for region in account.regions)


def routing_problems(registry: AccountRegistry, routing: RoutingTable) -> list[str]:
    """Teams that point at an unregistered account or region, or at another domain name.

    A team's execution role must also be in its own account (the routing loader
    checks that), and all teams of one account share one broker-access role.
    """
    problems: list[str] = []
    access: dict[str, tuple[str, str, str]] = {}
    for team in routing.teams.values():
        where = f"{routing.source}: teams[{team.id}]"
        account = registry.accounts.get(team.account_id)
        if account is None:
            problems.append(f"{where}: account {team.account_id} is not registered "
                            f"(add {registry.source}/{team.account_id}.yaml)")
            continue
        region = account.region(team.region)
        if region is None:
            problems.append(f"{where}: region {team.region} is not one of account {team.account_id}'s "
                            f"regions ({', '.join(r.region for r in account.regions)}) in {account.source}")
            continue
        if team.domain.name is not None and team.domain.name != region.domain_name:
            problems.append(f"{where}: domain name {team.domain.name!r} is not the domain the rollout "
                            f"makes in {team.account_id} {team.region} ({region.domain_name!r})")
        spoke = (team.spoke_access.role_name, team.spoke_access.external_id, team.id)
        first = access.setdefault(team.account_id, spoke)
        if first[:2] != spoke[:2]:
            problems.append(f"{where}: spoke_access differs from team {first[2]}'s in the same account "
                            f"{team.account_id}; one account has one broker-access role and ExternalId")
    return problems


# --- semantic checks ---------------------------------------------------------------------------


def _account_problems(doc: YamlDocument, stem: str) -> list[Problem]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    if isinstance(data.get("account_id"), str) and data["account_id"] != stem:
        problems.append(doc.problem(("account_id",), f"the file is named {stem}.yaml but describes "
                                                     f"account {data['account_id']}"))
    seen: dict[str, int] = {}
    regions = data.get("regions")
    for index, entry in enumerate(regions if isinstance(regions, list) else []):
        if not isinstance(entry, dict):
            continue
        code = entry.get("region")
        if isinstance(code, str):
            if code in seen:
                problems.append(doc.problem(
                    ("regions", index, "region"),
                    f"region {code} is listed twice (first at regions[{seen[code]}])"))
            seen.setdefault(code, index)
            zones = entry.get("availability_zones")
            for number, zone in enumerate(zones if isinstance(zones, list) else []):
                if isinstance(zone, str) and zone[:-1] != code:
                    problems.append(doc.problem(("regions", index, "availability_zones", number),
                                                f"{zone} is not an Availability Zone of {code}"))
        problems += _network_problems(doc, index, entry)
    return problems


def _network_problems(doc: YamlDocument, index: int, entry: dict[str, Any]) -> list[Problem]:
    try:
        vpc = ipaddress.ip_network(entry.get("vpc_cidr", DEFAULT_VPC_CIDR))
        subnets = [("private_subnet_cidrs", n, ipaddress.ip_network(c)) for n, c in
                   enumerate(entry.get("private_subnet_cidrs", DEFAULT_PRIVATE_SUBNETS))]
        if entry.get("internet_egress"):
            subnets += [("public_subnet_cidrs", n, ipaddress.ip_network(c)) for n, c in
                        enumerate(entry.get("public_subnet_cidrs", DEFAULT_PUBLIC_SUBNETS))]
    except (TypeError, ValueError) as exc:  # the schema reports the malformed value itself
        return [] if "host bits" not in str(exc) else [doc.problem(("regions", index), str(exc))]
    problems = []
    for position, (name, number, subnet) in enumerate(subnets):
        path = ("regions", index, name, number)
        if not subnet.subnet_of(vpc):  # type: ignore[arg-type]
            problems.append(doc.problem(path, f"{subnet} is not inside the VPC's {vpc}"))
        for other_name, other_number, other in subnets[:position]:
            if subnet.overlaps(other):
                problems.append(doc.problem(path, f"{subnet} overlaps {other_name}[{other_number}] {other}"))
    return problems


def _partition_problems(settings: YamlDocument, documents: list[YamlDocument]) -> list[Problem]:
    """Hub and spokes in one partition: credentials of one are not valid in another."""
    hub = settings.data["hub"]
    found = hub["broker_role_arn"].split(":")[1]
    why = (f"the hub's broker_role_arn is in {found}, and a hub reaches only the accounts of its "
           "own partition")
    problems: list[Problem] = []
    region = hub.get("region", RolloutSettings.hub_region)
    if partition(region) != found:
        given = f"region {region}" if "region" in hub else f"no region: the default {region}"
        problems.append(settings.problem(("hub", "region") if "region" in hub else ("hub",),
                                         f"{given} is in partition {partition(region)}; {why}"))
    reconcile = hub.get("reconcile_role_arn")
    if reconcile and reconcile.split(":")[1] != found:
        problems.append(settings.problem(("hub", "reconcile_role_arn"),
                                         f"the role is in partition {reconcile.split(':')[1]}; {why}"))
    for doc in documents:
        for index, entry in enumerate(doc.data["regions"]):
            if partition(entry["region"]) != found:
                problems.append(doc.problem(("regions", index, "region"),
                                            f"region {entry['region']} is in partition "
                                            f"{partition(entry['region'])}; {why}"))
    return problems


def _service_managed_problems(settings: YamlDocument, documents: list[YamlDocument]) -> list[Problem]:
    if settings.data.get("permission_model") != "SERVICE_MANAGED":
        return []
    return [doc.problem(("account_id",), "service-managed StackSets target OUs: "
                                          "set organizational_unit")
            for doc in documents if "organizational_unit" not in doc.data]


def _auto_deployment_problems(settings: YamlDocument, templates: str | Path | None) -> list[Problem]:
    data = settings.data
    if data.get("permission_model") != "SERVICE_MANAGED" or data.get("auto_deployment") is not True:
        return []
    # Imported here: stacksets reads this module's types; it knows which parameters only instances set.
    from broker.ops.stacksets import DEFAULT_TEMPLATES, PLACEHOLDER, instance_only_parameters

    only = instance_only_parameters(_settings(data), templates or DEFAULT_TEMPLATES)
    if not only:
        return []
    listing = "; ".join(f"{name}: {', '.join(names)}" for name, names in only.items())
    return [settings.problem(("auto_deployment",), (
        "StackSets would deploy an account that joins the OU with the StackSet-level value "
        f"{PLACEHOLDER!r} for the parameters only instances set ({listing}), and delete the stacks "
        "of an account that leaves it: remove auto_deployment, and add each account as "
        "accounts/<account id>.yaml, then `broker rollout apply`"))]


# --- typed objects -----------------------------------------------------------------------------


def _account(doc: YamlDocument) -> SpokeAccount:
    data = doc.data
    regions = []
    for entry in data["regions"]:
        values = dict(entry)
        for name in ("private_subnet_cidrs", "availability_zones", "public_subnet_cidrs"):
            if name in values:
                values[name] = tuple(values[name])
        values["parameters"] = frozen_mapping(values.get("parameters"))
        regions.append(SpokeRegion(**values))
    return SpokeAccount(
        account_id=data["account_id"],
        source=doc.source,
        regions=tuple(regions),
        name=data.get("name"),
        organizational_unit=data.get("organizational_unit"),
        parameters=frozen_mapping(data.get("parameters")),
    )


def _settings(data: dict[str, Any]) -> RolloutSettings:
    nested = ("version", "hub", "operation_preferences")
    values = {key: value for key, value in data.items() if key not in nested}
    return RolloutSettings(
        broker_role_arn=data["hub"]["broker_role_arn"],
        hub_region=data["hub"].get("region", "us-east-1"),
        reconcile_role_arn=data["hub"].get("reconcile_role_arn", ""),
        reconcile_role_name=data["hub"].get("reconcile_role_name", "StudioBrokerReconcile"),
        preferences=OperationPreferences(**data.get("operation_preferences", {})),
        **values,
    )
