"""The crucial one: spokes made by `broker rollout` from the repository's files serve the broker.

The repository's accounts/ and routing.yaml are rolled out into the emulator;
then the real handler signs the seed's people in, with IdP applications that
really sign (routing.yaml's placeholder certificates swapped for theirs).
"""

from __future__ import annotations

import dataclasses
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from broker import handler
from broker.aws import AwsClients
from broker.config import IdpApplication
from broker.local.idp import SamlIdentityProvider
from broker.ops import rollout
from broker.ops.accounts import load_accounts
from broker.ops.routing_source import load_routing_table
from broker.replay import create_table
from broker.wiring import BrokerSettings, build_login_service
from tests.functional.conftest import LambdaContext, acs_event, headers_of

from .conftest import spoke_session

REPO = Path(__file__).parent.parent.parent
TABLE = "studio-broker-state"


@pytest.fixture
def rolled_out(clients: AwsClients) -> Iterator[tuple[dict[str, SamlIdentityProvider], object]]:
    routing = load_routing_table(REPO / "routing.yaml", check_expiry=False)
    summary = rollout.apply(clients, load_accounts(REPO / "accounts"), routing, poll_seconds=0)
    assert summary.ok, summary.failed

    idps = {}
    applications = {}
    for app in routing.applications.values():
        idp = SamlIdentityProvider.generate(app.issuer)
        (team_id,) = app.teams
        idps[team_id] = idp
        applications[app.issuer] = IdpApplication(app.name, app.issuer, (idp.cert_pem,), app.teams)
    routing = dataclasses.replace(routing, applications=applications)
    create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    broker_clients = AwsClients()
    service = build_login_service(
        routing, BrokerSettings(table_name=TABLE, table_region="us-east-1", profile_wait_seconds=2.0),
        broker_clients)
    service.profiles.poll_seconds = 0.05
    handler.use_login_service(service)
    yield idps, routing
    handler.use_login_service(None)


def sign_in(idp: SamlIdentityProvider, routing: object, user: str, team_id: str) -> dict:
    provider = routing.service_provider  # type: ignore[attr-defined]
    xml = idp.build_response(user_id=user, team_id=team_id, audience=provider.entity_id,
                             acs_url=provider.acs_url)
    body = urllib.parse.urlencode({"SAMLResponse": idp.encode(xml)})
    return handler.lambda_handler(acs_event(body), LambdaContext())


def test_seed_scenario_passes_on_spokes_made_by_the_rollout(rolled_out: tuple) -> None:
    idps, routing = rolled_out
    for user, team_id in (("user1", "team1"), ("user1", "team2"), ("user2", "team2")):
        response = sign_in(idps[team_id], routing, user, team_id)
        assert response["statusCode"] == 302, response["body"]
        team = routing.teams[team_id]
        assert headers_of(response)["Location"].startswith(f"https://{team.domain.domain_id}.studio.")

    for team_id, account, region, names in (
            ("team1", "111111111111", "us-east-1", ["team1--user1"]),
            ("team2", "222222222222", "eu-west-1", ["team2--user1", "team2--user2"])):
        session = spoke_session(account, region)
        team = routing.teams[team_id]
        sagemaker = session.client("sagemaker")
        domain = sagemaker.describe_domain(DomainId=team.domain.domain_id)
        assert domain["AuthMode"] == "IAM" and domain["AppNetworkAccessType"] == "VpcOnly"
        listed = sagemaker.list_user_profiles(DomainIdEquals=team.domain.domain_id)["UserProfiles"]
        assert sorted(p["UserProfileName"] for p in listed) == names
        for name in names:
            profile = sagemaker.describe_user_profile(DomainId=team.domain.domain_id, UserProfileName=name)
            role = profile["UserSettings"]["ExecutionRole"]
            assert role == team.execution_role_arn
            # The role the profile runs as is the one the rollout made, tagged with the team.
            role_name = role.rsplit("/", 1)[1]
            made = session.client("iam").get_role(RoleName=role_name)["Role"]
            assert {"Key": "Team", "Value": team_id} in made["Tags"]
