"""A broker whose hub and spokes are in AWS GovCloud (US): every ARN it sends is in aws-us-gov.

The emulator does not evaluate IAM, so this proves what the broker sends (the
RoleArn of its AssumeRole, the profile it makes), not that AWS accepts it;
``tests/test_arns.py`` pins the partitions to botocore's own data.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from broker import handler
from broker.aws import AwsClients
from broker.local.idp import SamlIdentityProvider
from broker.replay import create_table
from broker.wiring import BrokerSettings, build_login_service

from .conftest import ACS_URL, ENTITY_ID, TABLE, LambdaContext, Spoke, acs_event, build_routing, create_spoke

GOV_SPOKES = (
    Spoke("team1", "111111111111", "us-gov-west-1", "team1studio"),
    Spoke("team2", "222222222222", "us-gov-east-1", "team2studio"),
)
HUB_REGION = "us-gov-west-1"


@pytest.fixture
def gov_broker(emulated_aws: None, signing_idps: dict[str, SamlIdentityProvider],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", HUB_REGION)
    domain_ids = {spoke.team_id: create_spoke(spoke) for spoke in GOV_SPOKES}
    create_table(boto3.client("dynamodb", region_name=HUB_REGION), TABLE)
    routing = build_routing(signing_idps, domain_ids, GOV_SPOKES)
    clients = AwsClients()
    service = build_login_service(
        routing, BrokerSettings(table_name=TABLE, table_region=HUB_REGION, profile_wait_seconds=2.0), clients)
    service.profiles.poll_seconds = 0.05
    calls: list[tuple[str, dict[str, Any]]] = []
    clients.register("provide-client-params",
                     lambda event_name, params, **_: calls.append((event_name.rsplit(".", 1)[1], params)))
    handler.use_login_service(service)
    yield calls
    handler.use_login_service(None)


def test_a_govcloud_sign_in_assumes_the_aws_us_gov_role_and_lands(
        gov_broker: list[tuple[str, dict[str, Any]]], signing_idps: dict[str, SamlIdentityProvider]) -> None:
    for spoke in GOV_SPOKES:
        idp = signing_idps[spoke.team_id]
        xml = idp.build_response(user_id="user1", team_id=spoke.team_id, audience=ENTITY_ID, acs_url=ACS_URL)
        body = urllib.parse.urlencode({"SAMLResponse": idp.encode(xml)})
        response = handler.lambda_handler(acs_event(body), LambdaContext())
        assert response["statusCode"] == 302, response["body"]

    assumed = [params["RoleArn"] for name, params in gov_broker if name == "AssumeRole"]
    assert assumed == [f"arn:aws-us-gov:iam::{s.account_id}:role/StudioBrokerAccess" for s in GOV_SPOKES]
    created = [params for name, params in gov_broker if name == "CreateUserProfile"]
    assert [p["UserSettings"]["ExecutionRole"] for p in created] == [s.execution_role for s in GOV_SPOKES]
    assert all(role.startswith("arn:aws-us-gov:iam::") for role in (s.execution_role for s in GOV_SPOKES))
