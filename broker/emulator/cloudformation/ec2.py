"""``AWS::EC2::RouteTable`` and ``AWS::EC2::VPCEndpoint`` that a stack delete removes, as in AWS.

moto 5.2.5 creates both from templates but cannot delete them: a deleted
stack leaves the endpoints (and their network interfaces) behind, and the left
route table makes the VPC's delete fail with DependencyViolation, so no network
stack could ever be deleted. These models create through moto's own and add
the delete; they replace moto's for the two types (moto maps each type to the
last model registered).
"""

from __future__ import annotations

from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.ec2.models.vpcs import VPCEndPoint


class RouteTableResource(CloudFormationModel):
    """Creates moto ``RouteTable`` objects from templates and deletes them (never instantiated itself)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return RouteTable.cloudformation_name_type()

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::RouteTable"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> RouteTable:
        return RouteTable.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> None:
        backend = ec2_backends[account_id][region_name]
        # CloudFormation deletes a gateway endpoint (its route references the table) first; moto's
        # stack delete takes resources in no order and retries what fails, so fail until then.
        for endpoint in backend.vpc_end_points.values():
            if endpoint.state != "deleted" and resource_name in (endpoint.route_table_ids or []):
                raise DependencyViolationError(
                    f"The routeTable '{resource_name}' has dependencies and cannot be deleted.")
        backend.delete_route_table(resource_name)


class VpcEndpointResource(CloudFormationModel):
    """Creates moto ``VPCEndPoint`` objects from templates and deletes them (never instantiated itself)."""

    @staticmethod
    def cloudformation_name_type() -> str:
        return VPCEndPoint.cloudformation_name_type()

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::EC2::VPCEndpoint"

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
        region_name: str, **kwargs: Any,
    ) -> VPCEndPoint:
        return VPCEndPoint.create_from_cloudformation_json(
            resource_name, cloudformation_json, account_id, region_name, **kwargs)

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
    ) -> None:
        ec2_backends[account_id][region_name].delete_vpc_endpoints([resource_name])
