"""``AWS::IAM::Role`` and ``AWS::IAM::ManagedPolicy`` updates and deletes that reach IAM, as in AWS.

moto 5.2.5 creates a role's inline policies from a template as Python objects
(``GetRolePolicy`` then returns their ``repr``, not JSON) and its update
ignores ``Policies``, ``AssumeRolePolicyDocument`` and ``Tags``. A spoke whose
team list changes must see its new PassRole list, so this model stores
policies as JSON and applies those properties on update. It replaces moto's
model for the type: moto maps each type to the last model registered.

moto's ``AWS::IAM::ManagedPolicy`` is created but never updated or deleted: a
stack update that changes its ``Roles`` leaves the old attachments, and a stack
delete leaves it attached, so the role's delete fails with DeleteConflict.
CloudFormation itself detaches a managed policy it deletes, and a new document
becomes the policy's default version; :class:`ManagedPolicyResource` does the same.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import ManagedPolicy, Role, iam_backends
from moto.utilities.utils import get_partition


def _json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


class RoleResource(CloudFormationModel):
    """Creates and updates moto ``Role`` objects from templates (never instantiated itself)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "RoleName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::Role"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return Role.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> Role:
        properties = dict(cloudformation_json["Properties"])
        policies = properties.pop("Policies", [])
        role = Role.create_from_cloudformation_json(
            resource_name, {**cloudformation_json, "Properties": properties}, account_id, region_name,
            **kwargs)
        for policy in policies:
            role.put_policy(policy["PolicyName"], _json(policy["PolicyDocument"]))
        return role

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: Role, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> Role:
        properties = cloudformation_json["Properties"]
        if properties.get("RoleName", original_resource.name) != original_resource.name:
            cls.delete_from_cloudformation_json(original_resource.name, cloudformation_json,
                                                account_id, region_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                       account_id, region_name)
        backend = iam_backends[account_id][get_partition(region_name)]
        role = original_resource
        role.assume_role_policy_document = _json(properties["AssumeRolePolicyDocument"])
        role.description = properties.get("Description", "")
        role.max_session_duration = int(properties.get("MaxSessionDuration", 3600))
        wanted = {p["PolicyName"]: _json(p["PolicyDocument"]) for p in properties.get("Policies", [])}
        for name in list(role.policies):
            if name not in wanted:
                role.delete_policy(name)
        for name, document in wanted.items():
            role.put_policy(name, document)
        clean = backend._tag_verification(properties.get("Tags", []))
        role.tags = {tag["Key"]: tag for tag in clean.values()}
        return role

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> None:
        Role.delete_from_cloudformation_json(resource_name, cloudformation_json, account_id, region_name)


class ManagedPolicyResource(CloudFormationModel):
    """Creates, updates and deletes moto ``ManagedPolicy`` objects from templates."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ManagedPolicyName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::IAM::ManagedPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return ManagedPolicy.has_cfn_attr(attr)

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> ManagedPolicy:
        return ManagedPolicy.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls, original_resource: ManagedPolicy, new_resource_name: str, cloudformation_json: dict[str, Any],
        account_id: str, region_name: str,
    ) -> ManagedPolicy:
        backend = iam_backends[account_id][get_partition(region_name)]
        policy = original_resource
        properties = cloudformation_json["Properties"]
        document = _json(properties["PolicyDocument"])
        default = next(v for v in policy.versions if v.is_default)
        if json.loads(default.document) != json.loads(document):
            for old in [v for v in policy.versions if not v.is_default][: max(0, len(policy.versions) - 4)]:
                backend.delete_policy_version(policy.arn, old.version_id)
            backend.create_policy_version(policy.arn, document, set_as_default=True)
        wanted = set(properties.get("Roles", []))
        attached = _attached_roles(backend, policy.arn)
        for name in sorted(attached - wanted):
            backend.detach_role_policy(policy.arn, name)
        for name in sorted(wanted - attached):
            backend.attach_role_policy(policy.arn, name)
        return policy

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        arn = resource_name  # the physical id of a managed policy is its ARN
        for name in sorted(_attached_roles(backend, arn)):
            backend.detach_role_policy(arn, name)
        backend.delete_policy(arn)


def _attached_roles(backend: Any, policy_arn: str) -> set[str]:
    return {role.name for role in backend.roles.values() if policy_arn in role.managed_policies}
