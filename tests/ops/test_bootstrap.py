"""The bootstrap state: a routing table with no application and no team yet.

docs/deployment.md deploys the hub before any Identity Center application
exists (the application needs the hub's ACS URL, the table needs the
application's issuer and certificate). That first table routes no one: it
must validate, give the hub its parameters, let the rollout build the spokes'
network and domain, and refuse every sign-in.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from broker.aws import AwsClients
from broker.cli import main
from broker.ops import rollout
from broker.ops.accounts import load_accounts

from .conftest import ACCOUNT_A, routing_of, team

REPO = Path(__file__).parent.parent.parent
ONE_ACCOUNT = {ACCOUNT_A: [("us-east-1", "studio-a-use1")]}


def test_spokes_without_teams_get_network_and_domain_then_a_first_team_gets_its_role(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    registry = load_accounts(accounts_dir(ONE_ACCOUNT))

    summary = rollout.apply(clients, registry, routing_of(), poll_seconds=0)

    assert summary.ok, summary.failed
    assert sorted((r.stack_set, r.action) for r in summary.results) == [
        ("studio-spoke-domain", "create"), ("studio-spoke-network", "create")]

    # The first team: its role and the broker's access arrive; network and domain stay as they are.
    with_team = routing_of(team("team1", ACCOUNT_A, "us-east-1", "studio-a-use1"))
    first = rollout.apply(clients, registry, with_team, poll_seconds=0)

    assert first.ok, first.failed
    assert sorted((r.stack_set, r.action) for r in first.changed) == [
        ("studio-spoke-access", "create"), (f"studio-team-roles-{ACCOUNT_A}", "create")]


def test_a_table_without_teams_validates_and_gives_the_hub_its_parameters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = (REPO / "routing.yaml").read_text()
    table = tmp_path / "routing.yaml"
    table.write_text(text[:text.index("\napplications:")] + "\napplications: []\nteams: []\n")

    assert main(["routing", "validate", str(table), "--accounts", str(REPO / "accounts")]) == 0
    assert main(["routing", "hub-parameters", str(table)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith(
        "BrokerAccessRoleName=StudioBrokerAccess SamlEntityId=urn:example:studio-broker "
        "CustomAcsUrl=https://broker.example.com/prod/saml/acs RoutingDigest=")
