"""routing.yaml's identity_store and teams[].groups: typed, and refused where they cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.config import IdentityStoreRef
from broker.exceptions import ConfigurationError
from broker.ops.routing_source import parse_routing_table

SAMPLE = (Path(__file__).resolve().parent.parent / "routing.yaml").read_text(encoding="utf-8")
READER = "arn:aws:iam::999999999999:role/StudioBrokerIdentityStoreReader"
GROUPS = "    enabled: true                               # false shows"
STORE = (f"\nidentity_store: {{id: d-1234567890, region: us-east-1, role_arn: '{READER}', "
         "external_id: ids-7f3c}\n")


def with_groups(groups: str, store: str = STORE) -> str:
    assert SAMPLE.count(GROUPS) == 1
    return SAMPLE.replace(GROUPS, f"    groups: {groups}\n{GROUPS}") + store


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        parse_routing_table(text, "routing.yaml", check_expiry=False)
    return caught.value.problems


def test_groups_and_the_store_are_typed() -> None:
    table = parse_routing_table(with_groups("[team1-members, 90677a8f2c-1d2e-4f5a-8b9c-0123456789ab]"),
                                "routing.yaml", check_expiry=False)
    assert table.identity_store == IdentityStoreRef(
        "d-1234567890", "us-east-1", READER, "ids-7f3c", "user_id")
    assert table.teams["team1"].groups == ("team1-members", "90677a8f2c-1d2e-4f5a-8b9c-0123456789ab")
    assert table.teams["team2"].groups == ()


def test_without_them_nothing_changes() -> None:
    table = parse_routing_table(SAMPLE, "routing.yaml", check_expiry=False)
    assert table.identity_store is None
    assert all(t.groups == () for t in table.teams.values())


def test_groups_without_an_identity_store_are_refused_at_the_team() -> None:
    found = problems(with_groups("[team1-members]", store=""))
    assert len(found) == 1 and found[0].startswith("routing.yaml:") and "teams[0].groups" in found[0]


@pytest.mark.parametrize(("store", "field"), [
    ("{id: d-12, region: us-east-1, role_arn: 'ROLE', external_id: x-1}", "identity_store.id"),
    ("{id: d-1234567890, region: us-east-1, role_arn: nope, external_id: x-1}", "identity_store.role_arn"),
    ("{id: d-1234567890, region: us-east-1, role_arn: 'ROLE', external_id: x-1, user_attribute: mail}",
     "identity_store.user_attribute"),
    ("{id: d-1234567890, role_arn: 'ROLE', external_id: x-1}", "identity_store"),
    ("{id: d-1234567890, region: us-east-1, role_arn: 'ROLE'}", "identity_store"),
])
def test_a_wrong_store_is_refused_at_its_field(store: str, field: str) -> None:
    entry = f"\nidentity_store: {store.replace('ROLE', READER)}\n"
    found = problems(with_groups("[team1-members]", store=entry))
    assert len(found) == 1 and f" {field}:" in found[0], found


def test_group_lists_are_unique_and_not_empty() -> None:
    assert any("teams[0].groups" in p for p in problems(with_groups("[]")))
    assert any("teams[0].groups" in p for p in problems(with_groups("[a, a]")))


def test_hub_parameters_let_the_hub_assume_the_reader_only_when_there_is_one() -> None:
    from broker.ops.hub_parameters import hub_parameters

    with_store = parse_routing_table(with_groups("[team1-members]"), "routing.yaml", check_expiry=False)
    assert hub_parameters(with_store)["IdentityStoreReaderRoleArn"] == READER
    plain = parse_routing_table(SAMPLE, "routing.yaml", check_expiry=False)
    assert "IdentityStoreReaderRoleArn" not in hub_parameters(plain)


# --- applications routed by membership (teams_from) ----------------------------------------------

TEAM1_APP = "    teams: [team1]\n"


def by_membership(text: str, replacement: str = "    teams_from: membership\n") -> str:
    assert text.count(TEAM1_APP) == 1
    return text.replace(TEAM1_APP, replacement)


def test_a_membership_application_is_typed_and_per_team_ones_stay_bound() -> None:
    table = parse_routing_table(by_membership(with_groups("[team1-members]")), "routing.yaml",
                                check_expiry=False)
    first, second = table.applications.values()
    assert first.by_membership and first.teams == frozenset()
    assert not second.by_membership and second.teams == frozenset({"team2"})


def test_a_membership_application_needs_the_identity_store() -> None:
    found = problems(by_membership(SAMPLE))[:1]  # then: team1 (no groups) is unrouted
    assert found[0].startswith("routing.yaml:65:") and "applications[0].teams_from" in found[0]
    assert "identity_store" in found[0]


def test_an_application_with_both_or_neither_teams_source_is_refused_at_its_line() -> None:
    both = problems(by_membership(with_groups("[team1-members]"),
                                  TEAM1_APP + "    teams_from: membership\n"))
    neither = problems(by_membership(with_groups("[team1-members]"), ""))
    for found in (both, neither):
        assert any("applications[0]:" in p and "exactly one of teams" in p for p in found), found


def test_a_team_without_groups_is_not_routed_by_membership() -> None:
    # team2 keeps its own application; team1 has no groups and only the membership application
    found = problems(by_membership(SAMPLE + STORE))
    assert any("no team has groups" in p for p in found)
    assert any("no application routes to team 'team1'" in p for p in found)
