"""``AWS::EC2::RouteTable`` and ``AWS::EC2::VPCEndpoint`` that a stack delete removes, as in AWS.

moto 5.2.5 creates both from templates but cannot delete them: a deleted
stack leaves the endpoints (and their network interfaces) behind, and the left
route table makes the VPC's delete fail with DependencyViolation, so no network
stack could ever be deleted. These models create through moto's own and add
the delete; they replace moto's for the two types (moto maps each type to the
last model registered, among CloudFormationModel's direct subclasses).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.core.common_models import CloudFormationModel
from moto.ec2.exceptions import DependencyViolationError
from moto.ec2.models import ec2_backends
from moto.ec2.models.route_tables import RouteTable
from moto.ec2.models.vpcs import VPCEndPoint


def _deletable(moto_model: Any, delete: Callable[[Any, str], None]) -> type[CloudFormationModel]:
    """A model of ``moto_model``'s type: creates through it, deletes with ``delete(ec2 backend, id)``."""

    class Deletable(CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return str(moto_model.cloudformation_name_type())

        @staticmethod
        def cloudformation_type() -> str:
            return str(moto_model.cloudformation_type())

        @classmethod
        def create_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str,
            region_name: str, **kwargs: Any,
        ) -> Any:
            return moto_model.create_from_cloudformation_json(
                resource_name, cloudformation_json, account_id, region_name, **kwargs)

        @classmethod
        def delete_from_cloudformation_json(  # type: ignore[override]
            cls, resource_name: str, cloudformation_json: dict[str, Any], account_id: str, region_name: str,
        ) -> None:
            delete(ec2_backends[account_id][region_name], resource_name)

    Deletable.__name__ = Deletable.__qualname__ = f"Deletable{moto_model.__name__}"
    return Deletable


def _delete_route_table(backend: Any, route_table_id: str) -> None:
    # CloudFormation deletes a gateway endpoint (its route references the table) first; moto's
    # stack delete takes resources in no order and retries what fails, so fail until then.
    for endpoint in backend.vpc_end_points.values():
        if endpoint.state != "deleted" and route_table_id in (endpoint.route_table_ids or []):
            raise DependencyViolationError(
                f"The routeTable '{route_table_id}' has dependencies and cannot be deleted.")
    backend.delete_route_table(route_table_id)


RouteTableResource = _deletable(RouteTable, _delete_route_table)
VpcEndpointResource = _deletable(VPCEndPoint,
                                 lambda backend, endpoint_id: backend.delete_vpc_endpoints([endpoint_id]))
