"""``broker routing hub-parameters``: the hub's parameters derived from routing.yaml, for sam deploy."""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace
from pathlib import Path

import pytest

from broker.cli import main
from broker.exceptions import ConfigurationError
from broker.ops.hub_parameters import hub_parameters, parameter_overrides
from broker.ops.routing_source import load_routing_table

from .conftest import ACCOUNT_A, ACCOUNT_B, routing_of, team

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "fixtures" / "routing_broken"


def printed(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, str]:
    assert main(["routing", "hub-parameters", *args]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    printed = dict(pair.split("=", 1) for pair in out.split())
    path = Path(args[0]) if args else Path("routing.yaml")
    assert printed.pop("RoutingDigest") == hashlib.sha256(path.read_bytes()).hexdigest()
    return printed


def test_the_repository_table_gives_the_hub_its_role_name_audience_and_acs_url(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, str(REPO / "routing.yaml")) == {
        "BrokerAccessRoleName": "StudioBrokerAccess",
        "SamlEntityId": "urn:example:studio-broker",
        "CustomAcsUrl": "https://broker.example.com/prod/saml/acs",
    }


def test_the_printed_role_name_is_every_teams_broker_role_and_the_one_the_hub_may_assume(
        capsys: pytest.CaptureFixture[str]) -> None:
    name = printed(capsys, str(REPO / "routing.yaml"))["BrokerAccessRoleName"]
    teams = load_routing_table(REPO / "routing.yaml", check_expiry=False).teams.values()
    assert teams and {t.broker_role_arn.rsplit(":role/", 1)[1] for t in teams} == {name}
    hub = (REPO / "template.yaml").read_text(encoding="utf-8")
    assert re.findall(r"iam::\*:role/\$\{(\w+)\}", hub) == ["BrokerAccessRoleName"]


def test_an_execute_api_acs_url_leaves_custom_acs_url_empty() -> None:
    table = routing_of(team("team1", ACCOUNT_A, "us-east-1", "d"))
    provider = replace(table.service_provider,
                       acs_url="https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/saml/acs")

    parameters = hub_parameters(replace(table, service_provider=provider))

    assert parameters["CustomAcsUrl"] == ""
    assert parameter_overrides(parameters) == (
        'BrokerAccessRoleName=StudioBrokerAccess SamlEntityId=urn:test CustomAcsUrl=""')


def test_values_sam_would_split_are_quoted() -> None:
    assert parameter_overrides({"A": 'x y"z', "B": "plain"}) == 'A="x y\\"z" B=plain'


def test_two_broker_access_role_names_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    other = team("team3", ACCOUNT_B, "us-east-1", "d")
    table = routing_of(team("team1", ACCOUNT_A, "us-east-1", "d"),
                       replace(other, spoke_access=replace(other.spoke_access, role_name="Other")))
    with pytest.raises(ConfigurationError, match=r"2 broker-access role names \(Other: team3; "
                                                 r"StudioBrokerAccess: team1\)"):
        hub_parameters(table)

    assert main(["routing", "hub-parameters", str(BROKEN / "broker_access_role_name.yaml")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "[broker-access-role-name]" in captured.err
