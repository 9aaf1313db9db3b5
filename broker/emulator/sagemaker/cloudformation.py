"""``AWS::SageMaker::Domain`` in moto's CloudFormation.

moto 5.2.5 skips this resource type with a warning (and a ``GetAtt`` on it
fails the stack), so the spoke templates could not build a domain in the
emulator. This model creates the domain in the account's SageMaker backend
through moto's own ``create_domain``, so stacks and API calls see one domain.

moto discovers CloudFormation models as the direct subclasses of
``CloudFormationModel`` and caches that list; :func:`register` clears the
cache so the model is found whenever the module was imported.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import parsing
from moto.cloudformation.exceptions import UnformattedGetAttTemplateException
from moto.core.common_models import CloudFormationModel
from moto.sagemaker.models import sagemaker_backends

_ATTRIBUTES = {
    "DomainArn": "arn",
    "DomainId": "id",
    "Url": "url",
    "HomeEfsFileSystemId": "home_efs_file_system_id",
    "SecurityGroupIdForDomainBoundary": "security_group_id_for_domain_boundary",
    "SingleSignOnManagedApplicationInstanceId": "single_sign_on_managed_application_instance_id",
}
# Changing these replaces the domain in AWS; anything else is updated in place.
_REPLACING = ("DomainName", "AuthMode", "VpcId", "SubnetIds", "KmsKeyId")


class DomainResource(CloudFormationModel):
    """A SageMaker domain made by a CloudFormation stack (the domain lives in the backend)."""

    def __init__(self, account_id: str, region_name: str, domain_id: str) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.domain_id = domain_id

    @property
    def domain(self) -> Any:
        return sagemaker_backends[self.account_id][self.region_name].domains[self.domain_id]

    @property
    def physical_resource_id(self) -> str:
        # The resource's primary identifier in the CloudFormation registry: Ref gives the id.
        return self.domain_id

    @staticmethod
    def cloudformation_name_type() -> str:
        return "DomainName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::Domain"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in _ATTRIBUTES

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name not in _ATTRIBUTES:
            raise UnformattedGetAttTemplateException()
        return getattr(self.domain, _ATTRIBUTES[attribute_name])

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> DomainResource:
        props = cloudformation_json["Properties"]
        backend = sagemaker_backends[account_id][region_name]
        name = props.get("DomainName", resource_name)
        arn = backend.create_domain(
            domain_name=name,
            auth_mode=props["AuthMode"],
            default_user_settings=props["DefaultUserSettings"],
            subnet_ids=props["SubnetIds"],
            vpc_id=props["VpcId"],
            domain_settings=props.get("DomainSettings"),
            tags=props.get("Tags") or [],
            app_network_access_type=props.get("AppNetworkAccessType"),
            home_efs_file_system_kms_key_id=None,
            kms_key_id=props.get("KmsKeyId"),
            app_security_group_management=props.get("AppSecurityGroupManagement"),
            default_space_settings=props.get("DefaultSpaceSettings"),
        )["DomainArn"]
        domain_id = arn.rsplit("/", 1)[1]
        # moto's Domain keeps only the CreateDomain fields; remember the rest for describe/drift.
        backend.domains[domain_id].tag_propagation = props.get("TagPropagation", "DISABLED")
        return cls(account_id, region_name, domain_id)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: DomainResource,
        new_resource_name: str,
        cloudformation_json: dict[str, Any],
        account_id: str,
        region_name: str,
    ) -> DomainResource:
        props = cloudformation_json["Properties"]
        domain = original_resource.domain
        current = {
            "DomainName": domain.domain_name, "AuthMode": domain.auth_mode, "VpcId": domain.vpc_id,
            "SubnetIds": domain.subnet_ids, "KmsKeyId": domain.kms_key_id,
        }
        if any(props.get(key, current[key]) != current[key] for key in _REPLACING):
            original_resource.delete(account_id, region_name)
            return cls.create_from_cloudformation_json(
                new_resource_name, cloudformation_json, account_id, region_name)
        domain.default_user_settings = props["DefaultUserSettings"]
        domain.domain_settings = props.get("DomainSettings")
        domain.app_network_access_type = props.get("AppNetworkAccessType", domain.app_network_access_type)
        domain.default_space_settings = props.get("DefaultSpaceSettings")
        domain.tag_propagation = props.get("TagPropagation", "DISABLED")
        return original_resource

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str
    ) -> None:
        sagemaker_backends[account_id][region_name].delete_domain(resource_name, None)

    def delete(self, account_id: str, region_name: str) -> None:
        """Delete the domain (the backend refuses while user profiles exist, as AWS does)."""
        sagemaker_backends[account_id][region_name].delete_domain(self.domain_id, None)


def register() -> None:
    """Make moto's CloudFormation see the models of this module (its model list is cached)."""
    parsing.get_model_list.cache_clear()
    parsing.get_model_map.cache_clear()
    parsing.get_name_type_map.cache_clear()
