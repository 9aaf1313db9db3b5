"""``AWS::IAM::Role`` updates that reach the role, as in AWS.

moto 5.2.5 creates a role's inline policies from a template as Python objects
(``GetRolePolicy`` then returns their ``repr``, not JSON) and its update
ignores ``Policies``, ``AssumeRolePolicyDocument`` and ``Tags``. A spoke whose
team list changes must see its new PassRole list, so this model stores
policies as JSON and applies those properties on update. It replaces moto's
model for the type: moto maps each type to the last model registered.
"""

from __future__ import annotations

import json
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.iam.models import Role, iam_backends
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
