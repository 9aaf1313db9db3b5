"""Spokes made by the rollout in the emulator: fake credentials, an account registry on disk."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from broker.aws import AwsClients
from broker.config import DomainRef, RoutingTable, ServiceProvider, SpokeAccess, Team, frozen_mapping

HUB = "123456789012"
BROKER_ROLE = f"arn:aws:iam::{HUB}:role/studio-broker"
ACCOUNT_A = "111111111111"
ACCOUNT_B = "222222222222"
EXTERNAL_ID = "studio-broker-test"
MUTATING = frozenset({"CreateStackSet", "UpdateStackSet", "CreateStackInstances",
                      "UpdateStackInstances", "DeleteStackInstances", "DeleteStackSet"})

ROLLOUT_YAML = f"""\
version: 1
hub: {{broker_role_arn: "{BROKER_ROLE}", region: us-east-1}}
permission_model: SELF_MANAGED
operation_preferences:
  max_concurrent_percentage: 50
  failure_tolerance_percentage: 0
  region_concurrency_type: SEQUENTIAL
"""


def account_yaml(account: str, regions: list[tuple[str, str]], *, cidr_base: int = 20,
                 extra: str = "") -> str:
    """An account file with one domain per region; each region gets its own VPC range."""
    lines = ["version: 1", f'account_id: "{account}"', "organizational_unit: ou-ab12-studio01", "regions:"]
    for number, (region, domain) in enumerate(regions):
        second = cidr_base + number
        lines += [f"  - region: {region}", f"    domain_name: {domain}",
                  f"    vpc_cidr: 10.{second}.0.0/16",
                  f"    private_subnet_cidrs: [10.{second}.0.0/19, 10.{second}.32.0/19]"]
    return "\n".join(lines) + "\n" + textwrap.dedent(extra)


def team(team_id: str, account: str, region: str, domain_name: str) -> Team:
    return Team(
        id=team_id, account_id=account, region=region, domain=DomainRef(name=domain_name),
        execution_role_arn=f"arn:aws:iam::{account}:role/studio-{team_id}-execution",
        tags=frozen_mapping({"Team": team_id}), user_settings=frozen_mapping({}),
        spoke_access=SpokeAccess(role_name="StudioBrokerAccess", external_id=EXTERNAL_ID))


def routing_of(*teams: Team) -> RoutingTable:
    provider = ServiceProvider(entity_id="urn:test", acs_url="https://broker.example.com/prod/saml/acs")
    return RoutingTable(source="routing.yaml", service_provider=provider, applications={},
                        teams={t.id: t for t in teams})


# Two spoke accounts, two regions each: team1 and team2 in A, team3 in B.
TWO_BY_TWO = {
    ACCOUNT_A: [("us-east-1", "studio-a-use1"), ("eu-west-1", "studio-a-euw1")],
    ACCOUNT_B: [("eu-west-1", "studio-b-euw1"), ("us-east-1", "studio-b-use1")],
}


def two_by_two_routing(*more: Team) -> RoutingTable:
    return routing_of(
        team("team1", ACCOUNT_A, "us-east-1", "studio-a-use1"),
        team("team2", ACCOUNT_A, "eu-west-1", "studio-a-euw1"),
        team("team3", ACCOUNT_B, "eu-west-1", "studio-b-euw1"),
        *more)


@pytest.fixture
def accounts_dir(tmp_path: Path) -> Callable[..., Path]:
    """Write an account registry: ``{account: [(region, domain), ...]}`` plus rollout.yaml."""

    def write(accounts: dict[str, list[tuple[str, str]]], rollout: str = ROLLOUT_YAML,
              extra: dict[str, str] | None = None) -> Path:
        root = tmp_path / "accounts"
        root.mkdir(exist_ok=True)
        (root / "rollout.yaml").write_text(rollout)
        for number, (account, regions) in enumerate(sorted(accounts.items())):
            text = account_yaml(account, regions, cidr_base=20 + 10 * number,
                                extra=(extra or {}).get(account, ""))
            (root / f"{account}.yaml").write_text(text)
        return root

    return write


class CallLog:
    """API operations made through one AwsClients, with their parameters."""

    def __init__(self, clients: AwsClients) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        clients.register("provide-client-params", self._record)

    def _record(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((event_name.rsplit(".", 1)[1], params))

    def mutating(self) -> list[str]:
        return [name for name, _ in self.calls if name in MUTATING]

    def clear(self) -> None:
        self.calls.clear()


@pytest.fixture
def clients(emulated_aws: None) -> AwsClients:
    return AwsClients()


def spoke_session(account: str, region: str) -> boto3.Session:
    """A session in a spoke account, outside the rollout."""
    creds = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole",
        RoleSessionName="test-observer")["Credentials"]
    return boto3.Session(aws_access_key_id=creds["AccessKeyId"],
                         aws_secret_access_key=creds["SecretAccessKey"],
                         aws_session_token=creds["SessionToken"], region_name=region)
