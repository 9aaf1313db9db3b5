"""A hub and two spoke accounts in the emulator, an IdP that really signs, the real handler.

The seed scenario: team1 lives in spoke 111111111111 (us-east-1), team2 in
spoke 222222222222 (eu-west-1); each team has its own IdP application.
"""

from __future__ import annotations

import copy
import json
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest

from broker import handler
from broker.arns import role_arn
from broker.aws import AwsClients
from broker.config import (
    DomainRef,
    IdpApplication,
    RoutingTable,
    ServiceProvider,
    SpokeAccess,
    Support,
    Team,
    frozen_mapping,
)
from broker.local.idp import SamlIdentityProvider
from broker.login import LoginService
from broker.replay import create_table
from broker.wiring import BrokerSettings, build_login_service

HUB = "123456789012"
ACS_URL = "https://broker.example.com/prod/saml/acs"
ENTITY_ID = "urn:example:studio-broker"
TABLE = "studio-broker-state"
EXTERNAL_ID = "studio-broker-test"
EVENTS = Path(__file__).parent.parent / "events"
# What the broker's pages show: the teams' names and where to turn.
DISPLAY_NAMES = {"team1": "Fraud analytics", "team2": "Churn modelling"}
SUPPORT = Support(portal_url="https://d-9067000000.awsapps.com/start",
                  contact="the Data Platform team (#studio-help)",
                  request_access_url="https://servicedesk.example.com/studio/access")
TEAM_SUPPORT = {"team2": Support(contact="Churn modelling leads (#churn-help)").over(SUPPORT)}


@dataclass(frozen=True)
class Spoke:
    team_id: str
    account_id: str
    region: str
    domain_name: str

    @property
    def execution_role(self) -> str:
        return role_arn(self.region, self.account_id, f"studio-{self.team_id}-execution")


SPOKES = (
    Spoke("team1", "111111111111", "us-east-1", "team1studio"),
    Spoke("team2", "222222222222", "eu-west-1", "team2studio"),
)


@dataclass(frozen=True)
class LambdaContext:
    function_name: str = "studio-broker"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{HUB}:function:studio-broker"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


@dataclass
class Landscape:
    """Everything a functional test needs to sign people in and look at what happened."""

    routing: RoutingTable
    idps: dict[str, SamlIdentityProvider]
    clients: AwsClients
    service: LoginService
    domain_ids: dict[str, str]
    calls: Counter[str] = field(default_factory=Counter)
    call_params: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def saml_response(self, user_id: str, team_id: str, *, app: str | None = None, **overrides: Any) -> str:
        """A signed, base64 SAMLResponse from ``app``'s IdP (default: the team's own)."""
        idp = self.idps[app or team_id]
        xml = idp.build_response(
            user_id=user_id, team_id=team_id, audience=ENTITY_ID, acs_url=ACS_URL, **overrides)
        return idp.encode(xml)

    def post_acs(self, saml_response: str | None, **event_overrides: Any) -> dict[str, Any]:
        """POST a form to the ACS through the real Lambda handler."""
        body = "" if saml_response is None else urllib.parse.urlencode({"SAMLResponse": saml_response})
        return self.invoke(acs_event(body, **event_overrides))

    def sign_in(self, user_id: str, team_id: str, **overrides: Any) -> dict[str, Any]:
        return self.post_acs(self.saml_response(user_id, team_id, **overrides))

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return handler.lambda_handler(event, LambdaContext())

    def spoke_client(self, spoke: Spoke, service: str = "sagemaker") -> Any:
        """A client in the spoke account, outside the broker (not counted)."""
        creds = boto3.client("sts", region_name=spoke.region).assume_role(
            RoleArn=f"arn:aws:iam::{spoke.account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="test-observer")["Credentials"]
        return boto3.client(
            service, region_name=spoke.region,
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"])

    def profiles(self, spoke: Spoke) -> list[dict[str, Any]]:
        """Every user profile in the spoke's domain, described."""
        sagemaker = self.spoke_client(spoke)
        listed = sagemaker.list_user_profiles(DomainIdEquals=self.domain_ids[spoke.team_id])
        return [
            sagemaker.describe_user_profile(DomainId=p["DomainId"], UserProfileName=p["UserProfileName"])
            for p in listed["UserProfiles"]
        ]

    def all_profiles(self) -> list[dict[str, Any]]:
        return [profile for spoke in SPOKES for profile in self.profiles(spoke)]

    def replay_items(self) -> int:
        table = boto3.client("dynamodb", region_name="us-east-1")
        return table.scan(TableName=TABLE, Select="COUNT")["Count"]


def headers_of(response: dict[str, Any]) -> dict[str, str]:
    """The response's headers, one value each (Set-Cookie excepted, see the raw response)."""
    return {name: values[-1] for name, values in response.get("multiValueHeaders", {}).items()}


def acs_event(body: str, **overrides: Any) -> dict[str, Any]:
    """The recorded API Gateway event of a POST to the ACS, with ``body``."""
    event = copy.deepcopy(json.loads((EVENTS / "acs_post.json").read_text()))
    event["body"] = body
    for key, value in overrides.items():
        event[key] = value
    return event


def get_event(path: str, cookie: str | None = None) -> dict[str, Any]:
    """A GET on ``path`` with an optional Cookie header."""
    event = acs_event("", path=path, resource=path, httpMethod="GET")
    event["headers"] = {"Host": "broker.example.com"}
    if cookie:
        event["headers"]["Cookie"] = cookie
    event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    event["body"] = None
    return event


def create_spoke(spoke: Spoke) -> str:
    """The spoke's execution role, network and domain, made as its organisation role; the domain id."""
    sts = boto3.client("sts", region_name=spoke.region)
    creds = sts.assume_role(
        RoleArn=role_arn(spoke.region, spoke.account_id, "OrganizationAccountAccessRole"),
        RoleSessionName="provision")["Credentials"]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"], region_name=spoke.region)
    iam = session.client("iam")
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    iam.create_role(RoleName=f"studio-{spoke.team_id}-execution", AssumeRolePolicyDocument=trust)
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    domain = session.client("sagemaker").create_domain(
        DomainName=spoke.domain_name, AuthMode="IAM",
        DefaultUserSettings={"ExecutionRole": spoke.execution_role},
        SubnetIds=[subnet], VpcId=vpc, AppNetworkAccessType="VpcOnly")
    return domain["DomainArn"].rsplit("/", 1)[1]


def build_routing(idps: dict[str, SamlIdentityProvider], domain_ids: dict[str, str],
                  spokes: tuple[Spoke, ...] = SPOKES) -> RoutingTable:
    """The seed routing table of ``spokes``, built directly from the typed config objects."""
    access = SpokeAccess(role_name="StudioBrokerAccess", external_id=EXTERNAL_ID)
    teams = {
        spoke.team_id: Team(
            id=spoke.team_id, account_id=spoke.account_id, region=spoke.region,
            domain=DomainRef(domain_id=domain_ids[spoke.team_id]),
            execution_role_arn=spoke.execution_role,
            tags=frozen_mapping({"Team": spoke.team_id, "CostCenter": "4711"}),
            user_settings=frozen_mapping({}),
            session_expiration_seconds=43200, presigned_url_expiry_seconds=60,
            spoke_access=access, display_name=DISPLAY_NAMES[spoke.team_id],
            support=TEAM_SUPPORT.get(spoke.team_id, SUPPORT),
        )
        for spoke in spokes
    }
    applications = {
        idp.issuer: IdpApplication(
            name=f"studio-{team_id}", issuer=idp.issuer, certificates=(idp.cert_pem,),
            teams=frozenset({team_id}))
        for team_id, idp in idps.items()
    }
    sp = ServiceProvider(entity_id=ENTITY_ID, acs_url=ACS_URL)
    return RoutingTable(source="test", service_provider=sp, applications=applications, teams=teams,
                        support=SUPPORT)


@pytest.fixture(scope="session")
def signing_idps() -> dict[str, SamlIdentityProvider]:
    """One IdP application per team, keys generated once per test session (slow part)."""
    return {
        spoke.team_id: SamlIdentityProvider.generate(
            f"https://portal.sso.us-east-1.amazonaws.com/saml/assertion/{spoke.team_id.upper()}APP")
        for spoke in SPOKES
    }


@pytest.fixture
def landscape(emulated_aws: None, signing_idps: dict[str, SamlIdentityProvider]) -> Iterator[Landscape]:
    domain_ids = {spoke.team_id: create_spoke(spoke) for spoke in SPOKES}
    create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    routing = build_routing(signing_idps, domain_ids)
    clients = AwsClients()
    service = build_login_service(
        routing, BrokerSettings(table_name=TABLE, table_region="us-east-1", profile_wait_seconds=2.0),
        clients)
    service.profiles.poll_seconds = 0.05
    land = Landscape(routing, signing_idps, clients, service, domain_ids)

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[1]
        land.calls[operation] += 1
        land.call_params.append((operation, params))

    clients.register("provide-client-params", count)
    handler.use_login_service(service)
    yield land
    handler.use_login_service(None)
