"""``broker rollout``: plan, apply, status and drift of the spoke StackSets.

:func:`plan` compares what the repository describes (:mod:`broker.ops.stacksets`)
with what CloudFormation has; :func:`apply` carries the plan out through the
StackSets API, one operation at a time per StackSet, waiting for each and
reading every instance's result, so the summary names each account and region
with the reason CloudFormation gave. Nothing changes when nothing differs.

Creates and updates run in deployment order (network before domain), deletes
in the reverse order (domain before network: AWS refuses to delete subnets
and security groups a domain still uses). A domain instance whose network
failed in this run is skipped (it would fail on the missing network
parameters), not attempted; a network whose domain could not be deleted is
kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import ClientError

from broker.aws import AwsClients
from broker.config import RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops.accounts import AccountRegistry, RolloutSettings, routing_problems
from broker.ops.aws_access import aws_problem
from broker.ops.stacksets import (
    DEFAULT_TEMPLATES,
    STACK_SET_TAGS,
    StackSetSpec,
    Target,
    desired_stack_sets,
)

Progress = Callable[[str], None]
Outcome = dict[tuple[str, str], tuple[str, str | None]]  # (account, region) -> (status, reason)
DONE = frozenset({"SUCCEEDED", "FAILED", "STOPPED"})
NOT_FOUND = frozenset({"StackSetNotFoundException", "StackInstanceNotFoundException"})


@dataclass(frozen=True)
class InstanceChange:
    """What happens to one stack instance: create, update, retry, delete or unchanged.

    ``via_stack_set``: an update that only the StackSet's own change (template or a
    StackSet-level parameter) causes; the StackSet update deploys it, no call of its own.
    """

    stack_set: str
    account: str
    region: str
    action: str
    details: tuple[str, ...] = ()
    via_stack_set: bool = False


@dataclass(frozen=True)
class StackSetPlan:
    """The changes of one StackSet."""

    spec: StackSetSpec
    exists: bool
    stack_set_changes: tuple[str, ...]
    instances: tuple[InstanceChange, ...]

    @property
    def changed(self) -> bool:
        return not self.exists or bool(self.stack_set_changes) or any(
            i.action != "unchanged" for i in self.instances)


@dataclass(frozen=True)
class Plan:
    """Every StackSet's changes, in deployment order."""

    stack_sets: tuple[StackSetPlan, ...]

    @property
    def changed(self) -> bool:
        return any(s.changed for s in self.stack_sets)

    def to_dict(self) -> dict[str, Any]:
        return {"changed": self.changed, "stack_sets": [
            {"name": s.spec.name, "source": s.spec.source, "exists": s.exists,
             "stack_set_changes": list(s.stack_set_changes),
             "instances": [asdict(i) for i in s.instances]} for s in self.stack_sets]}


@dataclass(frozen=True)
class InstanceResult:
    """How one stack instance fared in an apply."""

    stack_set: str
    account: str
    region: str
    action: str
    status: str  # SUCCEEDED, FAILED, SKIPPED, UNCHANGED
    reason: str | None = None


@dataclass
class Summary:
    """The outcome of :func:`apply`, per StackSet, account and region."""

    results: list[InstanceResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status in ("SUCCEEDED", "UNCHANGED") for r in self.results)

    @property
    def failed(self) -> list[InstanceResult]:
        return [r for r in self.results if r.status in ("FAILED", "SKIPPED")]

    @property
    def changed(self) -> list[InstanceResult]:
        return [r for r in self.results if r.status != "UNCHANGED"]

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "results": [asdict(r) for r in self.results]}


@dataclass(frozen=True)
class InstanceStatus:
    """A deployed stack instance as CloudFormation reports it."""

    stack_set: str
    account: str
    region: str
    status: str
    detailed_status: str | None
    reason: str | None
    drift_status: str | None


# --- plan --------------------------------------------------------------------------------------


def check_configuration(registry: AccountRegistry, routing: RoutingTable) -> None:
    """Raise :class:`ConfigurationError` when routing.yaml points outside the registry."""
    problems = routing_problems(registry, routing)
    if problems:
        raise ConfigurationError(problems)


class DeployedStackSets(Protocol):
    """What the planner reads about the deployed StackSets (CloudFormation, or a rollout's result)."""

    def describe(self, name: str) -> dict[str, Any] | None: ...

    def names(self, prefix: str) -> list[str]: ...

    def instances(self, name: str) -> dict[tuple[str, str], dict[str, Any]]: ...

    def overrides(self, name: str, account: str, region: str) -> dict[str, str]: ...


class RolledOut:
    """The StackSets exactly as a successful rollout of ``specs`` leaves them, without AWS.

    ``broker routing plan`` plans the head against the base's rollout with the
    same :func:`plan_against` that ``broker rollout`` runs against CloudFormation.
    """

    def __init__(self, specs: Sequence[StackSetSpec], settings: RolloutSettings) -> None:
        self.specs = {spec.name: spec for spec in specs}
        self.settings = settings

    def describe(self, name: str) -> dict[str, Any] | None:
        spec = self.specs.get(name)
        if spec is None:
            return None
        described: dict[str, Any] = {"TemplateBody": spec.template,
                                     "Parameters": _parameters(spec.parameters)}
        if self.settings.service_managed:
            described["AutoDeployment"] = {"Enabled": self.settings.auto_deployment}
        return described

    def names(self, prefix: str) -> list[str]:
        return sorted(name for name in self.specs if name.startswith(prefix))

    def instances(self, name: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {(t.account, t.region): {"Status": "CURRENT"} for t in self.specs[name].targets}

    def overrides(self, name: str, account: str, region: str) -> dict[str, str]:
        target = self.specs[name].target(account, region)
        return dict(target.overrides) if target else {}


def plan(
    clients: AwsClients,
    registry: AccountRegistry,
    routing: RoutingTable,
    templates: str | Path = DEFAULT_TEMPLATES,
) -> Plan:
    """What :func:`apply` would do now."""
    check_configuration(registry, routing)
    cfn = _StackSets(clients, registry.settings)
    return plan_against(cfn, registry.settings, desired_stack_sets(registry, routing, templates))


def plan_against(
    deployed: DeployedStackSets, settings: RolloutSettings, specs: Sequence[StackSetSpec]
) -> Plan:
    """Every change that turns ``deployed`` into ``specs``, in deployment order.

    A team-roles StackSet of an account that has no team any more is not among
    ``specs``: its instances are deleted (the StackSet itself stays, empty).
    """
    planned = [_plan_one(deployed, spec, settings) for spec in specs]
    wanted = {spec.name for spec in specs}
    retired = []
    for name in deployed.names(f"{settings.stack_set_prefix}-team-roles-"):
        described = deployed.describe(name)
        if name in wanted or described is None:
            continue
        spec = StackSetSpec(name, "no team left in its account (routing.yaml)",
                            described.get("TemplateBody", ""), {}, ())
        deletes = tuple(InstanceChange(name, account, region, "delete", ("no team left in the account",))
                        for account, region in sorted(deployed.instances(name)))
        if deletes:
            retired.append(StackSetPlan(spec, True, (), deletes))
    # Deletes run in reverse order: the retired roles go with the other team roles, after the domain.
    last = max((n for n, p in enumerate(planned) if "-team-roles-" in p.spec.name or
                p.spec.name.endswith("-spoke-access")), default=len(planned) - 1)
    return Plan(tuple(planned[:last + 1] + retired + planned[last + 1:]))


def _plan_one(cfn: DeployedStackSets, spec: StackSetSpec, settings: RolloutSettings) -> StackSetPlan:
    described = cfn.describe(spec.name)
    if described is None:
        creates = tuple(InstanceChange(spec.name, t.account, t.region, "create", _listing(t.overrides))
                        for t in spec.targets)
        return StackSetPlan(spec, False, ("create StackSet",), creates)
    changes: list[str] = []
    if described.get("TemplateBody") != spec.template:
        changes.append(f"template changed ({spec.source})")
    current = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    changes += [f"StackSet parameter {change}" for change in _differences(current, spec.parameters)]
    if settings.service_managed:
        enabled = bool((described.get("AutoDeployment") or {}).get("Enabled"))
        if enabled != settings.auto_deployment:
            changes.append(f"auto-deployment: {_on_off(enabled)} -> {_on_off(settings.auto_deployment)}")
    deployed = cfn.instances(spec.name)
    instances: list[InstanceChange] = []
    for target in spec.targets:
        found = deployed.pop((target.account, target.region), None)
        if found is None:
            instances.append(InstanceChange(spec.name, target.account, target.region, "create",
                                            _listing(target.overrides)))
            continue
        overrides = cfn.overrides(spec.name, target.account, target.region)
        differences = tuple(_differences(overrides, target.overrides))
        if found.get("Status") != "CURRENT":
            reason = found.get("StatusReason") or found.get("Status")
            instances.append(InstanceChange(spec.name, target.account, target.region, "retry",
                                            (f"was {found.get('Status')}: {reason}", *differences)))
        elif differences:
            instances.append(InstanceChange(spec.name, target.account, target.region, "update", differences))
        elif changes:
            instances.append(InstanceChange(spec.name, target.account, target.region, "update",
                                            ("StackSet changed",), via_stack_set=True))
        else:
            instances.append(InstanceChange(spec.name, target.account, target.region, "unchanged"))
    for (account, region) in sorted(deployed):
        instances.append(InstanceChange(spec.name, account, region, "delete",
                                        ("no longer in accounts/ or routing.yaml",)))
    return StackSetPlan(spec, True, tuple(changes), tuple(instances))


def _differences(current: Mapping[str, str], wanted: Mapping[str, str]) -> list[str]:
    out = []
    for key in sorted(set(current) | set(wanted)):
        if current.get(key) != wanted.get(key):
            out.append(f"{key}: {current.get(key, '(unset)')} -> {wanted.get(key, '(unset)')}")
    return out


def _on_off(enabled: bool) -> str:
    return "on" if enabled else "off"


def _listing(values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{k}={v}" for k, v in sorted(values.items()))


# --- apply -------------------------------------------------------------------------------------


def apply(
    clients: AwsClients,
    registry: AccountRegistry,
    routing: RoutingTable,
    templates: str | Path = DEFAULT_TEMPLATES,
    *,
    progress: Progress | None = None,
    poll_seconds: float = 10.0,
    timeout_seconds: float = 3600.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Summary:
    """Deploy every StackSet change of :func:`plan`; return a per-instance summary."""
    say = progress or (lambda _: None)
    the_plan = plan(clients, registry, routing, templates)
    cfn = _StackSets(clients, registry.settings, say, poll_seconds, timeout_seconds, clock, sleep)
    summary = Summary()
    failed_where: dict[str, set[tuple[str, str]]] = {}
    for stack_set in the_plan.stack_sets:  # creates and updates: what a StackSet depends on first
        blocked = failed_where.get(stack_set.spec.depends_on or "", set())
        failed_where[stack_set.spec.name] = _apply_one(cfn, stack_set, blocked, summary, say)
    # Deletes: dependants first (a domain uses its network's subnets and security group: AWS
    # refuses to delete those while the domain exists, with DependencyViolation).
    kept_where: dict[str, set[tuple[str, str]]] = {}
    for stack_set in reversed(the_plan.stack_sets):
        name = stack_set.spec.name
        dependants = {s.spec.name: kept_where[s.spec.name] for s in the_plan.stack_sets
                      if s.spec.depends_on == name}
        kept_where[name] = _delete_removed(cfn, stack_set, dependants, summary, say)
    return summary


class _Attempts:
    """One StackSet's operations in an apply, and each instance's result."""

    def __init__(self, cfn: _StackSets, spec: StackSetSpec, say: Progress) -> None:
        self.cfn = cfn
        self.spec = spec
        self.say = say
        self.results: dict[tuple[str, str], InstanceResult] = {}

    def set(self, change: InstanceChange, status: str, reason: str | None = None) -> None:
        where = (change.account, change.region)
        self.results[where] = InstanceResult(self.spec.name, *where, change.action, status, reason)

    def record(self, changes: Iterable[InstanceChange], outcome: Outcome) -> None:
        for change in changes:
            self.set(change, *outcome.get((change.account, change.region),
                                          ("FAILED", "no result reported for this instance")))

    def attempt(self, changes: list[InstanceChange], what: str, start: Callable[..., str]) -> None:
        try:
            outcome = self.cfn.run(self.spec.name, what, start)
        except (ClientError, TimeoutError) as error:
            if aws_problem(error):
                raise  # the credentials, not this instance: every call after it would fail too
            reason = _error_text(error) if isinstance(error, ClientError) else str(error)
            self.say(f"{self.spec.name}: {what}: {reason}")
            outcome = {(c.account, c.region): ("FAILED", reason) for c in changes}
        self.record(changes, outcome)

    def done(self, summary: Summary) -> set[tuple[str, str]]:
        """Add the results to ``summary``; return where an instance failed or was skipped."""
        summary.results.extend(self.results[k] for k in sorted(self.results))
        return {k for k, r in self.results.items() if r.status in ("FAILED", "SKIPPED")}


def _apply_one(
    cfn: _StackSets, plan_: StackSetPlan, blocked: set[tuple[str, str]], summary: Summary, say: Progress
) -> set[tuple[str, str]]:
    """Create the StackSet if needed, then update, retry and create its instances (deletes come later)."""
    spec = plan_.spec
    run = _Attempts(cfn, spec, say)
    by_action: dict[str, list[InstanceChange]] = {}
    for change in plan_.instances:
        if change.action == "delete":
            continue
        if (change.account, change.region) in blocked:
            run.set(change, "SKIPPED", f"{spec.depends_on} failed in this account and region")
        elif change.action == "unchanged":
            run.set(change, "UNCHANGED")
        else:
            by_action.setdefault(change.action, []).append(change)
    if by_action or plan_.stack_set_changes:
        say(f"{spec.name}: " + ", ".join(f"{len(v)} to {k}" for k, v in by_action.items())
            if by_action else f"{spec.name}: StackSet update")

    if not plan_.exists:
        try:
            cfn.create_stack_set(spec)
        except ClientError as error:
            if aws_problem(error):
                raise
            reason = _error_text(error)
            say(f"{spec.name}: {reason}")
            run.record([c for c in plan_.instances if (c.account, c.region) not in run.results],
                       {(c.account, c.region): ("FAILED", reason) for c in plan_.instances})
            run.done(summary)
            return set(run.results)
    elif plan_.stack_set_changes:
        # UpdateStackSet deploys every instance, each with its own overrides.
        updating = [c for c in plan_.instances if c.action in ("update", "unchanged")
                    and (c.account, c.region) not in blocked]
        run.attempt(updating, "update StackSet", lambda **op: cfn.update_stack_set(spec, **op))

    for action in ("update", "retry"):
        # An override change still needs its own call after a StackSet update (which keeps old overrides).
        pending = [c for c in by_action.get(action, [])
                   if (c.account, c.region) not in run.results or not c.via_stack_set]
        for group in _groups(spec, pending):
            run.attempt(group, f"{action} {_where(group)}",
                        lambda g=group, **op: cfn.update_instances(spec, g, **op))
    for group in _groups(spec, by_action.get("create", [])):
        run.attempt(group, f"create {_where(group)}",
                    lambda g=group, **op: cfn.create_instances(spec, g, **op))
    return run.done(summary)


def _delete_removed(
    cfn: _StackSets, plan_: StackSetPlan, dependants: Mapping[str, set[tuple[str, str]]],
    summary: Summary, say: Progress,
) -> set[tuple[str, str]]:
    """Delete the instances no longer wanted, except where a dependant still has one.

    ``dependants``: each StackSet that depends on this one, with where its instances remain.
    Returns where this StackSet's instances remain.
    """
    spec = plan_.spec
    run = _Attempts(cfn, spec, say)
    deletes = []
    for change in plan_.instances:
        if change.action != "delete":
            continue
        still = [name for name, where in dependants.items() if (change.account, change.region) in where]
        if still:
            run.set(change, "SKIPPED", f"{still[0]} is still deployed in this account and region")
        else:
            deletes.append(change)
    if deletes:
        say(f"{spec.name}: {len(deletes)} to delete")
    for account in sorted({c.account for c in deletes}):
        group = [c for c in deletes if c.account == account]
        run.attempt(group, f"delete {_where(group)}",
                    lambda g=group, **op: cfn.delete_instances(spec, g, **op))
    remaining = {(c.account, c.region) for c in plan_.instances if c.action != "delete"}
    return remaining | run.done(summary)


def _groups(spec: StackSetSpec, changes: list[InstanceChange]) -> list[list[InstanceChange]]:
    """One API call per account and override set (a call applies one override set to all its targets)."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[InstanceChange]] = {}
    for change in changes:
        target = spec.target(change.account, change.region)
        overrides = tuple(sorted(target.overrides.items())) if target else ()
        groups.setdefault((change.account, overrides), []).append(change)
    return [groups[key] for key in sorted(groups)]


def _where(changes: list[InstanceChange]) -> str:
    return f"{changes[0].account} " + ",".join(sorted(c.region for c in changes))


# --- status and drift --------------------------------------------------------------------------


def status(clients: AwsClients, registry: AccountRegistry, routing: RoutingTable,
           templates: str | Path = DEFAULT_TEMPLATES) -> list[InstanceStatus]:
    """Every deployed instance of the spoke StackSets, with CloudFormation's status and reason."""
    cfn = _StackSets(clients, registry.settings)
    names = [s.name for s in desired_stack_sets(registry, routing, templates)]
    names += [n for n in cfn.names(registry.settings.stack_set_prefix + "-") if n not in names]
    found = []
    for name in names:
        if cfn.describe(name) is None:
            continue
        for (account, region), summary in sorted(cfn.instances(name).items()):
            found.append(InstanceStatus(
                name, account, region, summary.get("Status", "UNKNOWN"),
                (summary.get("StackInstanceStatus") or {}).get("DetailedStatus"),
                summary.get("StatusReason"), summary.get("DriftStatus")))
    return found


def drift(clients: AwsClients, registry: AccountRegistry, routing: RoutingTable,
          templates: str | Path = DEFAULT_TEMPLATES, *, detect: bool = False,
          progress: Progress | None = None, poll_seconds: float = 10.0) -> list[str]:
    """Differences between the repository and the spokes; empty when none.

    Always: StackSets or instances that differ from accounts/ and routing.yaml
    (changed templates or parameters, missing or extra instances, instances not
    CURRENT). With ``detect``, CloudFormation's drift detection also runs, to
    find resources changed by hand in the spokes.
    """
    say = progress or (lambda _: None)
    findings = []
    cfn = _StackSets(clients, registry.settings, say, poll_seconds)
    if detect:
        for spec in desired_stack_sets(registry, routing, templates):
            if cfn.describe(spec.name) is None:
                continue
            try:
                cfn.run(spec.name, "detect drift", lambda s=spec, **op: cfn.detect_drift(s, **op))
            except (ClientError, NotImplementedError) as error:  # the emulator has no drift detection
                say(f"{spec.name}: drift detection unavailable ({error}); configuration drift only")
    for stack_set in plan(clients, registry, routing, templates).stack_sets:
        for change in stack_set.stack_set_changes:
            findings.append(f"{stack_set.spec.name}: {change}")
        for instance in stack_set.instances:
            if instance.action != "unchanged":
                detail = "; ".join(instance.details)
                findings.append(f"{stack_set.spec.name} {instance.account} {instance.region}: "
                                f"{instance.action}" + (f" ({detail})" if detail else ""))
    for item in status(clients, registry, routing, templates):
        if item.drift_status == "DRIFTED":
            findings.append(f"{item.stack_set} {item.account} {item.region}: resources drifted "
                            "(see the stack's drift results in CloudFormation)")
    return findings


# --- the StackSets API -------------------------------------------------------------------------


class _StackSets:
    """The StackSets calls of the rollout, with the settings' permission model and preferences."""

    def __init__(
        self,
        clients: AwsClients,
        settings: RolloutSettings,
        progress: Progress | None = None,
        poll_seconds: float = 10.0,
        timeout_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = clients.hub("cloudformation", settings.hub_region)
        self.settings = settings
        self.progress = progress or (lambda _: None)
        self.poll_seconds = poll_seconds
        self.timeout_seconds = timeout_seconds
        self.clock = clock
        self.sleep = sleep
        self.common: dict[str, Any] = {"CallAs": settings.call_as} if settings.call_as else {}

    def describe(self, name: str) -> dict[str, Any] | None:
        try:
            return self.client.describe_stack_set(StackSetName=name, **self.common)["StackSet"]
        except ClientError as error:
            if _code(error) in NOT_FOUND:
                return None
            raise

    def names(self, prefix: str) -> list[str]:
        found = []
        for page in self.client.get_paginator("list_stack_sets").paginate(Status="ACTIVE", **self.common):
            found += [s["StackSetName"] for s in page.get("Summaries", [])
                      if s["StackSetName"].startswith(prefix) and s.get("Status", "ACTIVE") == "ACTIVE"]
        return sorted(found)

    def instances(self, name: str) -> dict[tuple[str, str], dict[str, Any]]:
        found = {}
        pages = self.client.get_paginator("list_stack_instances").paginate(StackSetName=name, **self.common)
        for page in pages:
            for summary in page.get("Summaries", []):
                found[(summary["Account"], summary["Region"])] = summary
        return found

    def overrides(self, name: str, account: str, region: str) -> dict[str, str]:
        # ListStackInstances does not carry the overrides; DescribeStackInstance does.
        instance = self.client.describe_stack_instance(
            StackSetName=name, StackInstanceAccount=account, StackInstanceRegion=region,
            **self.common)["StackInstance"]
        overrides = instance.get("ParameterOverrides", [])
        return {p["ParameterKey"]: p.get("ParameterValue", "") for p in overrides}

    def create_stack_set(self, spec: StackSetSpec) -> None:
        params: dict[str, Any] = {
            "StackSetName": spec.name,
            "Description": spec.description,
            "TemplateBody": spec.template,
            "Parameters": _parameters(spec.parameters),
            "Capabilities": ["CAPABILITY_NAMED_IAM"],
            "Tags": [{"Key": k, "Value": v} for k, v in STACK_SET_TAGS.items()],
            **self.common,
        }
        if self.settings.service_managed:
            params["PermissionModel"] = "SERVICE_MANAGED"
            params["AutoDeployment"] = self._auto_deployment()
        else:
            params["PermissionModel"] = "SELF_MANAGED"
            if self.settings.administration_role_arn:
                params["AdministrationRoleARN"] = self.settings.administration_role_arn
            if self.settings.execution_role_name:
                params["ExecutionRoleName"] = self.settings.execution_role_name
        self.progress(f"{spec.name}: creating the StackSet ({spec.source})")
        self.client.create_stack_set(**params)

    def update_stack_set(self, spec: StackSetSpec, **operation: Any) -> str:
        if self.settings.service_managed:
            operation["AutoDeployment"] = self._auto_deployment()
        return self.client.update_stack_set(
            StackSetName=spec.name, Description=spec.description, TemplateBody=spec.template,
            Parameters=_parameters(spec.parameters), Capabilities=["CAPABILITY_NAMED_IAM"],
            **operation, **self.common)["OperationId"]

    def _auto_deployment(self) -> dict[str, bool]:
        # RetainStacksOnAccountRemoval: "Specify only if Enabled is set to True" (API_AutoDeployment).
        if self.settings.auto_deployment:
            return {"Enabled": True, "RetainStacksOnAccountRemoval": False}
        return {"Enabled": False}

    def create_instances(self, spec: StackSetSpec, changes: list[InstanceChange], **operation: Any) -> str:
        target = self._target(spec, changes)
        return self.client.create_stack_instances(
            StackSetName=spec.name, **self._targets(target, changes),
            ParameterOverrides=_parameters(target.overrides), **operation, **self.common)["OperationId"]

    def update_instances(self, spec: StackSetSpec, changes: list[InstanceChange], **operation: Any) -> str:
        target = self._target(spec, changes)
        # The full list replaces the instance's overrides (a key left out falls back to the StackSet's).
        return self.client.update_stack_instances(
            StackSetName=spec.name, **self._targets(target, changes),
            ParameterOverrides=_parameters(target.overrides), **operation, **self.common)["OperationId"]

    def delete_instances(self, spec: StackSetSpec, changes: list[InstanceChange], **operation: Any) -> str:
        account = changes[0].account
        targets: dict[str, Any] = {"Regions": sorted({c.region for c in changes})}
        if self.settings.service_managed:
            instance = self.instances(spec.name).get((account, changes[0].region), {})
            ou = instance.get("OrganizationalUnitId")
            targets["DeploymentTargets"] = {"OrganizationalUnitIds": [ou], "Accounts": [account],
                                            "AccountFilterType": "INTERSECTION"}
        else:
            targets["Accounts"] = [account]
        return self.client.delete_stack_instances(
            StackSetName=spec.name, RetainStacks=False, **targets, **operation, **self.common)["OperationId"]

    def detect_drift(self, spec: StackSetSpec, **operation: Any) -> str:
        return self.client.detect_stack_set_drift(
            StackSetName=spec.name, **operation, **self.common)["OperationId"]

    def run(self, name: str, what: str, start: Callable[..., str]) -> Outcome:
        """Start one operation, wait for it, and return each instance's (status, reason)."""
        self.progress(f"{name}: {what}")
        operation_id = start(OperationPreferences=self.settings.preferences.to_api())
        started = self.clock()
        while True:
            operation = self.client.describe_stack_set_operation(
                StackSetName=name, OperationId=operation_id, **self.common)["StackSetOperation"]
            state = operation["Status"]
            if state in DONE:
                break
            elapsed = self.clock() - started
            if elapsed > self.timeout_seconds:
                raise TimeoutError(f"{name}: operation {operation_id} still {state} after {elapsed:.0f} s")
            self.progress(f"{name}: {what}: {state} ({elapsed:.0f} s)")
            self.sleep(self.poll_seconds)
        outcome: Outcome = {}
        for page in self.client.get_paginator("list_stack_set_operation_results").paginate(
                StackSetName=name, OperationId=operation_id, **self.common):
            for result in page.get("Summaries", []):
                where = (result["Account"], result["Region"])
                outcome[where] = ("SUCCEEDED" if result["Status"] == "SUCCEEDED" else "FAILED",
                                  result.get("StatusReason") or (None if result["Status"] == "SUCCEEDED"
                                                                 else result["Status"]))
        failed = sum(1 for s, _ in outcome.values() if s == "FAILED")
        self.progress(f"{name}: {what}: {state}" + (f", {failed} failed" if failed else ""))
        return outcome

    def _target(self, spec: StackSetSpec, changes: list[InstanceChange]) -> Target:
        target = spec.target(changes[0].account, changes[0].region)
        assert target is not None  # changes come from the spec's targets
        return target

    def _targets(self, target: Target, changes: list[InstanceChange]) -> dict[str, Any]:
        regions = sorted({c.region for c in changes})
        if self.settings.service_managed:
            return {"Regions": regions, "DeploymentTargets": {
                "OrganizationalUnitIds": [target.ou], "Accounts": [target.account],
                "AccountFilterType": "INTERSECTION"}}
        return {"Regions": regions, "Accounts": [target.account]}


def _parameters(values: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in sorted(values.items())]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _error_text(error: ClientError) -> str:
    details = error.response.get("Error", {})
    return f"{details.get('Code', 'Error')}: {details.get('Message', '')}".strip()
