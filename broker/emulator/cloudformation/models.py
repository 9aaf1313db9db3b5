"""StackSets that behave like AWS's where the rollout depends on it.

moto 5.2.5's StackSets differ from AWS in ways that hide exactly what a rollout
must handle, so this backend replaces the stack-set operations (moto's stacks,
templates and resources are used unchanged):

- ``UpdateStackSet`` / ``UpdateStackInstances`` really update the deployed
  stacks (moto only records the new parameters);
- new instances use the stack set's current template (moto keeps the first);
- parameter overrides are merged over the stack set's parameters (moto replaces
  them), and an override set replaces the previous one, as in AWS;
- a resource error fails that one instance: its status becomes ``OUTDATED``
  with CloudFormation's reason, the half-built stack is rolled back (deleted),
  the other instances are deployed, and the operation ends ``FAILED`` when the
  failures exceed the failure tolerance (moto raises at once);
- service-managed stack sets resolve OU targets with ``AccountFilterType``
  and deploy real stacks, visible in the target account (moto hides them);
- deleting an instance whose stack made a subnet or security group that a
  SageMaker domain still uses fails with ``DependencyViolation``, as EC2
  refuses it in AWS (moto deletes them);
- operations keep per-instance results with status reasons.

Still not emulated: operations finish at once (no RUNNING phase, no
concurrency or region order), ``AutoDeployment`` is recorded but accounts
joining an OU are not deployed automatically, and drift detection is absent.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from types import ModuleType
from typing import Any

from moto.cloudformation.exceptions import (
    AlreadyExistsException,
    StackInstanceNotFound,
    StackSetNotEmpty,
    ValidationError,
)
from moto.cloudformation.models import CloudFormationBackend, StackSet, cloudformation_backends
from moto.core.utils import utcnow
from moto.ec2.exceptions import DependencyViolationError
from moto.moto_api._internal import mock_random
from moto.organizations.models import organizations_backends
from moto.sagemaker.models import sagemaker_backends
from moto.utilities.utils import get_partition


class InstanceRecord:
    """One stack instance: where, which overrides, which stack, how it went."""

    def __init__(self, stack_set: StackSet, account: str, region: str, ou_id: str | None) -> None:
        self.stack_set = stack_set
        self.account = account
        self.region = region
        self.ou_id = ou_id
        self.overrides: list[dict[str, str]] = []
        self.stack_id: str | None = None
        self.status = "OUTDATED"
        self.detailed_status = "PENDING"
        self.reason: str | None = None

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {
            "StackSetId": self.stack_set.id,
            "Region": self.region,
            "Account": self.account,
            "Status": self.status,
            "StackInstanceStatus": {"DetailedStatus": self.detailed_status},
            "ParameterOverrides": list(self.overrides),
            "DriftStatus": "NOT_CHECKED",
        }
        if self.stack_id:
            summary["StackId"] = self.stack_id
        if self.reason:
            summary["StatusReason"] = self.reason
        if self.ou_id:
            summary["OrganizationalUnitId"] = self.ou_id
        return summary


class ExtendedCloudFormationBackend(CloudFormationBackend):
    """moto's CloudFormation with the stack-set operations of AWS (see the module docstring)."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.init_extension()

    def init_extension(self) -> None:
        """Create the extension's state (also used to upgrade a pre-install backend)."""
        self.stack_instance_records: dict[str, dict[tuple[str, str], InstanceRecord]] = {}

    @property
    def _url_module(self) -> ModuleType:
        from . import responses

        return responses

    # --- stack sets ------------------------------------------------------------------------

    def create_stack_set(self, *args: Any, **kwargs: Any) -> StackSet:  # type: ignore[override]
        name = kwargs.get("name", args[0] if args else None)
        for existing in self.stacksets.values():
            if existing.name == name and existing.status != "DELETED":  # moto allows duplicates
                raise AlreadyExistsException(f"StackSet {name} already exists")
        stack_set = super().create_stack_set(*args, **kwargs)
        self.stack_instance_records[stack_set.id] = {}
        return stack_set

    def records(self, stack_set: StackSet) -> dict[tuple[str, str], InstanceRecord]:
        return self.stack_instance_records.setdefault(stack_set.id, {})

    def delete_stack_set(self, name: str) -> None:
        stack_set = self.describe_stack_set(name)
        if self.records(stack_set):
            raise StackSetNotEmpty()
        stack_set.delete()

    def update_stack_set(  # type: ignore[override]
        self,
        stackset_name: str,
        template: str,
        description: str,
        parameters: list[dict[str, str]],
        tags: dict[str, str],
        admin_role: str,
        execution_role: str,
        accounts: list[str],
        regions: list[str],
        operation_id: str,
        preferences: dict[str, Any] | None = None,
        deployment_targets: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        stack_set = self.describe_stack_set(stackset_name)
        resolved = self._resolve_update_parameters(instance=stack_set, incoming_params=parameters)
        stack_set.template = template or stack_set.template
        stack_set.description = description if description is not None else stack_set.description
        stack_set.parameters = resolved or stack_set.parameters
        stack_set.tags = tags or stack_set.tags
        stack_set.administration_role_arn = admin_role or stack_set.administration_role_arn
        stack_set.execution_role_name = execution_role or stack_set.execution_role_name
        records = self.records(stack_set)
        if accounts or deployment_targets:
            wanted = {(a, None) for a in accounts} | set(self._targets(deployment_targets))
            chosen = [r for r in records.values()
                      if (r.account, None) in wanted or (r.account, r.ou_id) in wanted]
            chosen = [r for r in chosen if not regions or r.region in regions]
        else:
            chosen = list(records.values())
        return self._operation(stack_set, "UPDATE", chosen, preferences, operation_id,
                               lambda record: self._deploy(stack_set, record))

    def create_stack_instances(  # type: ignore[override]
        self,
        stackset_name: str,
        accounts: list[str],
        regions: list[str],
        parameters: list[dict[str, str]],
        deployment_targets: dict[str, Any] | None,
        preferences: dict[str, Any] | None = None,
        operation_id: str | None = None,
    ) -> str:
        stack_set = self.describe_stack_set(stackset_name)
        targets = self._check_targets(stack_set, accounts, deployment_targets)
        records = self.records(stack_set)
        chosen = []
        for region in regions:
            for account, ou_id in targets:
                if (account, region) in records:  # AWS: creating an existing instance is a no-op
                    continue
                record = InstanceRecord(stack_set, account, region, ou_id)
                record.overrides = [dict(p) for p in parameters or []]
                records[(account, region)] = record
                chosen.append(record)
        operation = self._operation(stack_set, "CREATE", chosen, preferences, operation_id,
                                    lambda record: self._deploy(stack_set, record))
        return operation["OperationId"]

    def update_stack_instances(  # type: ignore[override]
        self,
        stackset_name: str,
        accounts: list[str],
        regions: list[str],
        parameters: list[dict[str, Any]] | None,
        deployment_targets: dict[str, Any] | None = None,
        preferences: dict[str, Any] | None = None,
        operation_id: str | None = None,
    ) -> dict[str, Any]:
        stack_set = self.describe_stack_set(stackset_name)
        targets = self._check_targets(stack_set, accounts, deployment_targets)
        records = self.records(stack_set)
        chosen = []
        for region in regions:
            for account, _ in targets:
                record = records.get((account, region))
                if record is None:
                    raise StackInstanceNotFound()
                if parameters is not None:
                    record.overrides = _merge_overrides(record.overrides, parameters)
                chosen.append(record)
        return self._operation(stack_set, "UPDATE", chosen, preferences, operation_id,
                               lambda record: self._deploy(stack_set, record))

    def delete_stack_instances(  # type: ignore[override]
        self,
        stackset_name: str,
        accounts: list[str],
        regions: list[str],
        deployment_targets: dict[str, Any] | None = None,
        retain_stacks: bool = False,
        preferences: dict[str, Any] | None = None,
        operation_id: str | None = None,
    ) -> StackSet:
        stack_set = self.describe_stack_set(stackset_name)
        targets = {a for a, _ in self._targets(deployment_targets)} | set(accounts)
        records = self.records(stack_set)
        chosen = [r for r in records.values() if r.account in targets and r.region in regions]

        def remove(record: InstanceRecord) -> None:
            if record.stack_id and not retain_stacks:
                backend = cloudformation_backends[record.account][record.region]
                _refuse_while_a_domain_uses(backend.stacks.get(record.stack_id), record)
                backend.delete_stack(record.stack_id)
            del records[(record.account, record.region)]

        self._operation(stack_set, "DELETE", chosen, preferences, operation_id, remove)
        return stack_set

    def list_stack_instances(self, stackset_name: str) -> list[dict[str, Any]]:  # type: ignore[override]
        stack_set = self.describe_stack_set(stackset_name)
        return [record.summary() for record in self.records(stack_set).values()]

    def describe_stack_instance(  # type: ignore[override]
        self, stack_set_name: str, account_id: str, region: str
    ) -> dict[str, Any]:
        stack_set = self.describe_stack_set(stack_set_name)
        record = self.records(stack_set).get((account_id, region))
        if record is None:
            raise StackInstanceNotFound()
        return record.summary()

    # --- the work ------------------------------------------------------------------------------

    def _deploy(self, stack_set: StackSet, record: InstanceRecord) -> None:
        parameters = dict(stack_set.parameters)
        parameters.update({p["ParameterKey"]: p["ParameterValue"] for p in record.overrides})
        backend = cloudformation_backends[record.account][record.region]
        if record.stack_id and record.stack_id in backend.stacks:
            backend.stacks[record.stack_id].update(stack_set.template, parameters=parameters)
            return
        name = f"StackSet-{stack_set.name}-{mock_random.uuid4()}"
        try:
            stack = backend.create_stack(name=name, template=stack_set.template, parameters=parameters)
        except Exception:
            # AWS rolls a failed create back; moto leaves the half-built stack behind.
            for stack_id, stack in list(backend.stacks.items()):
                if stack.name == name:
                    _delete_quietly(stack)
                    backend.stacks.pop(stack_id, None)
            raise
        record.stack_id = stack.stack_id

    def _operation(
        self,
        stack_set: StackSet,
        action: str,
        records: Iterable[InstanceRecord],
        preferences: dict[str, Any] | None,
        operation_id: str | None,
        work: Any,
    ) -> dict[str, Any]:
        records = list(records)
        results = []
        failures = 0
        for record in records:
            try:
                work(record)
            except Exception as error:  # CloudFormation reports any resource error as the reason
                failures += 1
                record.status, record.detailed_status = "OUTDATED", "FAILED"
                record.reason = _reason(error)
                results.append({"Account": record.account, "Region": record.region,
                                "Status": "FAILED", "StatusReason": record.reason})
            else:
                record.status, record.detailed_status, record.reason = "CURRENT", "SUCCEEDED", None
                results.append({"Account": record.account, "Region": record.region,
                                "Status": "SUCCEEDED"})
                if record.ou_id:
                    results[-1]["OrganizationalUnitId"] = record.ou_id
        status = "FAILED" if failures > _tolerance(preferences or {}, len(records)) else "SUCCEEDED"
        operation = {
            "OperationId": operation_id or str(mock_random.uuid4()),
            "Action": action,
            "Status": status,
            "CreationTimestamp": utcnow(),
            "EndTimestamp": utcnow() + timedelta(seconds=1),
            "Instances": [{r.account: r.region} for r in records],
            "Results": results,
            "OperationPreferences": preferences or {},
        }
        stack_set.operations.append(operation)
        return operation

    def _check_targets(
        self, stack_set: StackSet, accounts: list[str], deployment_targets: dict[str, Any] | None
    ) -> list[tuple[str, str | None]]:
        if stack_set.permission_model == "SERVICE_MANAGED":
            if not deployment_targets or not deployment_targets.get("OrganizationalUnitIds"):
                raise ValidationError(message="StackSets with SERVICE_MANAGED permission model "
                                              "can only have OrganizationalUnit as target")
            return self._targets(deployment_targets)
        if deployment_targets and deployment_targets.get("OrganizationalUnitIds"):
            raise ValidationError(message="StackSets with SELF_MANAGED permission model "
                                          "can only have accounts as target")
        listed = list(accounts) + list((deployment_targets or {}).get("Accounts", []))
        return [(account, None) for account in listed]

    def _targets(self, deployment_targets: dict[str, Any] | None) -> list[tuple[str, str | None]]:
        """(account, OU) pairs of OU targets, with AccountFilterType applied."""
        targets = deployment_targets or {}
        ous = targets.get("OrganizationalUnitIds") or []
        if not ous:
            return [(a, None) for a in targets.get("Accounts", [])]
        org = organizations_backends[self.account_id][get_partition(self.region_name)]
        wanted = set(ous)
        # An OU target includes its descendants.
        changed = True
        while changed:
            children = {ou.id for ou in org.ou if ou.parent_id in wanted}
            changed = not children <= wanted
            wanted |= children
        in_ous = [(acct.id, acct.parent_id) for acct in org.accounts if acct.parent_id in wanted]
        listed = set(targets.get("Accounts", []))
        mode = targets.get("AccountFilterType", "NONE")
        if mode == "INTERSECTION":
            return [(a, ou) for a, ou in in_ous if a in listed]
        if mode == "DIFFERENCE":
            return [(a, ou) for a, ou in in_ous if a not in listed]
        if mode == "UNION":
            return in_ous + [(a, None) for a in sorted(listed - {a for a, _ in in_ous})]
        return in_ous


def _refuse_while_a_domain_uses(stack: Any, record: InstanceRecord) -> None:
    """EC2 refuses to delete a subnet or security group that a domain's network interfaces use."""
    if stack is None:
        return
    made = {getattr(resource, "physical_resource_id", None) for resource in stack.stack_resources}
    for domain in sagemaker_backends[record.account][record.region].domains.values():
        used = {*domain.subnet_ids, *(domain.domain_settings or {}).get("SecurityGroupIds", []),
                *(domain.default_user_settings or {}).get("SecurityGroups", [])}
        busy = sorted(used & made)
        if busy:
            raise DependencyViolationError(
                f"The resource '{busy[0]}' has dependencies and cannot be deleted "
                f"(SageMaker domain {domain.id} uses it)")


def _merge_overrides(previous: list[dict[str, str]], incoming: list[dict[str, Any]]) -> list[dict[str, str]]:
    """AWS: the list replaces the overrides; UsePreviousValue keeps one."""
    old = {p["ParameterKey"]: p["ParameterValue"] for p in previous}
    merged = []
    for parameter in incoming:
        key = parameter["ParameterKey"]
        if parameter.get("UsePreviousValue") and key in old:
            merged.append({"ParameterKey": key, "ParameterValue": old[key]})
        elif "ParameterValue" in parameter:
            merged.append({"ParameterKey": key, "ParameterValue": parameter["ParameterValue"]})
    return merged


def _tolerance(preferences: dict[str, Any], count: int) -> int:
    if "FailureToleranceCount" in preferences:
        return int(preferences["FailureToleranceCount"])
    if "FailureTolerancePercentage" in preferences:
        # AWS rounds the percentage down.
        return count * int(preferences["FailureTolerancePercentage"]) // 100
    return 0


def _reason(error: Exception) -> str:
    message = getattr(error, "message", None) or str(error) or type(error).__name__
    code = getattr(error, "error_type", None) or getattr(error, "code", None)
    text = f"{code}: {message}" if code and not str(message).startswith(str(code)) else str(message)
    return " ".join(text.split())[:1024]


def _delete_quietly(stack: Any) -> None:
    try:
        stack.delete()
    except Exception:  # noqa: S110 - best effort, as a rollback that leaves debris in AWS
        stack.status = "ROLLBACK_FAILED"
