"""Provision the routing table's spokes and the hub table into the emulator.

This is a stand-in: the StackSets rollout (``broker.ops``) replaces it as soon
as it exists, so local spokes are built by the same code as real ones. Until
then this makes, per team, what the broker needs to find in a spoke: the
broker-access role, the team's execution role, a VPC with one subnet, and the
SageMaker domain (IAM auth, VpcOnly) under the id or name routing.yaml gives.
Idempotent, so it can run against an emulator that is already provisioned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.exceptions import ClientError

from broker.config import RoutingTable, Team
from broker.replay import create_table

HUB_ACCOUNT_ID = "123456789012"
HUB_REGION = "us-east-1"
# The role AWS Organizations creates in every member account; the emulator lets anyone assume it.
ORGANIZATION_ROLE = "OrganizationAccountAccessRole"
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDR = "10.0.1.0/24"


@dataclass(frozen=True)
class ProvisionedSpoke:
    """What the bootstrap made (or found) for one team."""

    team_id: str
    account_id: str
    region: str
    domain_id: str
    execution_role_arn: str


def bootstrap_local_spokes(
    routing: RoutingTable,
    table_name: str,
    *,
    session: boto3.Session | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> list[ProvisionedSpoke]:
    """Create the hub's replay table and every team's spoke resources; return what exists."""
    hub = session or boto3.Session(region_name=HUB_REGION)
    create_table(hub.client("dynamodb", region_name=HUB_REGION), table_name)
    log(f"hub {HUB_ACCOUNT_ID}: table {table_name} ready")
    spokes = []
    for team in routing.teams.values():
        spoke = _provision_team(hub, team)
        log(f"spoke {spoke.account_id} {spoke.region}: team {spoke.team_id}, "
            f"domain {spoke.domain_id}, role {spoke.execution_role_arn}")
        spokes.append(spoke)
    return spokes


def spoke_client(hub: boto3.Session, account_id: str, region: str) -> Callable[[str], Any]:
    """A maker of clients in a spoke account, as the organisation's admin role.

    The clients come from the hub session, which has already loaded the service models.
    """
    credentials = hub.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ORGANIZATION_ROLE}",
        RoleSessionName="local-bootstrap",
    )["Credentials"]

    def client(service: str) -> Any:
        return hub.client(
            service, region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return client


def _provision_team(hub: boto3.Session, team: Team) -> ProvisionedSpoke:
    client = spoke_client(hub, team.account_id, team.region)
    iam = client("iam")
    _ensure_role(iam, team.spoke_access.role_name, _broker_access_trust(team))
    _ensure_role(iam, team.execution_role_arn.rsplit("/", 1)[1], _sagemaker_trust())
    domain_id = _ensure_domain(client("sagemaker"), client("ec2"), team)
    return ProvisionedSpoke(team.id, team.account_id, team.region, domain_id, team.execution_role_arn)


def _broker_access_trust(team: Team) -> dict[str, Any]:
    # Written as the real trust policy would be; the emulator does not enforce it.
    condition: dict[str, Any] = {}
    if team.spoke_access.external_id:
        condition = {"StringEquals": {"sts:ExternalId": team.spoke_access.external_id}}
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{HUB_ACCOUNT_ID}:root"},
        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
        "Condition": condition,
    }]}


def _sagemaker_trust() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole"}]}


def _ensure_role(iam: Any, name: str, trust: dict[str, Any]) -> None:
    try:
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    except ClientError as error:
        if error.response["Error"]["Code"] != "EntityAlreadyExists":
            raise


def _ensure_domain(sagemaker: Any, ec2: Any, team: Team) -> str:
    # The emulator names a domain's id d-<name>: a domain given by id is created under that name.
    wanted_id = team.domain.domain_id
    name = team.domain.name or (wanted_id or "").removeprefix("d-")
    for domain in sagemaker.list_domains()["Domains"]:
        if domain["DomainName"] == name:
            return domain["DomainId"]
    vpc = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=SUBNET_CIDR)["Subnet"]["SubnetId"]
    arn = sagemaker.create_domain(
        DomainName=name, AuthMode="IAM", VpcId=vpc, SubnetIds=[subnet],
        AppNetworkAccessType="VpcOnly",
        DefaultUserSettings={"ExecutionRole": team.execution_role_arn},
        Tags=[{"Key": "Team", "Value": team.id}],
    )["DomainArn"]
    domain_id = arn.rsplit("/", 1)[1]
    if wanted_id and domain_id != wanted_id:
        raise RuntimeError(f"team {team.id}: the emulator made domain {domain_id}, "
                           f"routing.yaml expects {wanted_id}")
    return domain_id
