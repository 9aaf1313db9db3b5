"""The stack-set actions of :mod:`.models`: read parameters, call the backend, answer.

Carries moto's urls-module contract (``url_bases`` / ``url_paths``) because
``ExtendedCloudFormationBackend._url_module`` points here.
"""

from __future__ import annotations

from typing import Any

from moto.cloudformation import urls as moto_cloudformation_urls
from moto.cloudformation.responses import CloudFormationResponse
from moto.core.responses import ActionResult

from .models import ExtendedCloudFormationBackend


class ExtendedCloudFormationResponse(CloudFormationResponse):
    """moto's CloudFormation responses with AWS-like stack-set operations."""

    @property
    def extended_backend(self) -> ExtendedCloudFormationBackend:
        backend = self.cloudformation_backend
        if not isinstance(backend, ExtendedCloudFormationBackend):
            raise RuntimeError("broker.emulator.install() has not been called")
        return backend

    def _preferences(self) -> dict[str, Any]:
        return self._get_param("OperationPreferences") or {}

    def create_stack_set(self) -> ActionResult:
        result = super().create_stack_set()
        stack_set = self.extended_backend.describe_stack_set(self._get_param("StackSetName"))
        auto = self._get_param("AutoDeployment")
        if auto:
            stack_set.auto_deployment = auto
        return result

    def create_stack_instances(self) -> ActionResult:
        operation_id = self.extended_backend.create_stack_instances(
            self._get_param("StackSetName"),
            self._get_param("Accounts", []),
            self._get_param("Regions", []),
            self._get_param("ParameterOverrides", []),
            deployment_targets=self._get_param("DeploymentTargets"),
            preferences=self._preferences(),
            operation_id=self._get_param("OperationId"),
        )
        return ActionResult({"OperationId": operation_id})

    def update_stack_instances(self) -> ActionResult:
        overrides = self._get_param("ParameterOverrides")
        operation = self.extended_backend.update_stack_instances(
            self._get_param("StackSetName"),
            self._get_param("Accounts", []),
            self._get_param("Regions", []),
            overrides,
            deployment_targets=self._get_param("DeploymentTargets"),
            preferences=self._preferences(),
            operation_id=self._get_param("OperationId"),
        )
        return ActionResult({"OperationId": operation["OperationId"]})

    def update_stack_set(self) -> ActionResult:
        template = self._get_param("TemplateBody")
        if self._get_param("TemplateURL"):
            template = self._get_stack_from_s3_url(self._get_param("TemplateURL"))
        operation = self.extended_backend.update_stack_set(
            stackset_name=self._get_param("StackSetName"),
            template=template,
            description=self._get_param("Description"),
            parameters=self._get_param("Parameters", []),
            tags={item["Key"]: item["Value"] for item in self._get_param("Tags", [])},
            admin_role=self._get_param("AdministrationRoleARN"),
            execution_role=self._get_param("ExecutionRoleName"),
            accounts=self._get_param("Accounts", []),
            regions=self._get_param("Regions", []),
            operation_id=self._get_param("OperationId"),
            preferences=self._preferences(),
            deployment_targets=self._get_param("DeploymentTargets"),
        )
        auto = self._get_param("AutoDeployment")
        if auto:
            self.extended_backend.describe_stack_set(self._get_param("StackSetName")).auto_deployment = auto
        return ActionResult({"OperationId": operation["OperationId"]})

    def delete_stack_instances(self) -> ActionResult:
        stack_set = self.extended_backend.delete_stack_instances(
            self._get_param("StackSetName"),
            self._get_param("Accounts", []),
            self._get_param("Regions", []),
            deployment_targets=self._get_param("DeploymentTargets"),
            retain_stacks=bool(self._get_param("RetainStacks")),
            preferences=self._preferences(),
            operation_id=self._get_param("OperationId"),
        )
        return ActionResult({"OperationId": stack_set.operations[-1]["OperationId"]})

    def list_stack_set_operation_results(self) -> ActionResult:
        _, operation = self.extended_backend.describe_stack_set_operation(
            self._get_param("StackSetName"), self._get_param("OperationId"))
        return ActionResult({"Summaries": operation.get("Results", [])})


url_bases = moto_cloudformation_urls.url_bases
url_paths = {
    **moto_cloudformation_urls.url_paths,
    "{0}/$": ExtendedCloudFormationResponse.dispatch,
}
