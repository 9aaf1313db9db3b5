"""broker audit USER: the person's profiles in every spoke and the CloudTrail queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from broker import reconcile
from broker.aws import AwsClients
from broker.cli import main
from broker.ops import audit
from broker.profile_name import profile_name_for
from broker.spokes import source_identity

from .world import (
    SPOKE_ROLE,
    TEAM1,
    World,
    build_world,
    former_domain,
    routing,
    routing_text,
    sagemaker_in,
    write_registry,
)


@pytest.fixture
def world(emulated_aws: None) -> World:
    return build_world()


def test_a_persons_profiles_apps_and_queries(world: World) -> None:
    alice = world.users["alice"]
    result = audit.audit(routing(), reconcile.spoke_role_clients(AwsClients(), SPOKE_ROLE), alice)
    assert [(p.team, p.profile, p.apps_running) for p in result.profiles] == [
        ("team1", profile_name_for(alice, "team1"), ("JupyterServer/default",)),
        ("team2", profile_name_for(alice, "team2"), ()),
        ("old", profile_name_for(alice, "old"), ())]  # a team that left, in team1's domain
    assert result.without_profile == [] and result.problems == []
    query = result.lake_query()
    assert f"'{source_identity(alice)}'" in query and f"'{profile_name_for(alice, 'team2')}'" in query
    assert "'111111111111', '222222222222'" in query
    commands = result.lookup_commands()
    assert len(commands) == 2 and all(f"AttributeValue={source_identity(alice)}" in c for c in commands)


def test_only_running_apps_count_and_a_space_the_person_owns_is_shown(world: World) -> None:
    bob = world.users["bob"]  # gone from the Identity Store; audit does not need it
    name = profile_name_for(bob, "team1")
    sagemaker_in(TEAM1).delete_app(DomainId=TEAM1[2], UserProfileName=name, AppType="JupyterServer",
                                   AppName="default")
    result = audit.audit(routing(), reconcile.spoke_role_clients(AwsClients(), SPOKE_ROLE), bob)
    (profile,) = result.profiles
    assert profile.spaces == ("bob-space",) and profile.apps_running == ("bob-space/JupyterLab/default",)
    assert result.without_profile == ["team2"]


def test_the_queries_name_the_session_form_of_an_id_sts_would_refuse(world: World) -> None:
    odd = "o'brien smith@example.com"  # a quote and a space: not STS-legal, sessions carry a hashed form
    result = audit.audit(routing(), reconcile.spoke_role_clients(AwsClients(), SPOKE_ROLE), odd)
    assert result.source_identity == source_identity(odd) != odd
    assert f"'{source_identity(odd)}'" in result.lake_query() and odd not in result.lake_query()
    assert result.without_profile == ["team1", "team2"]


def test_the_command_prints_json(world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text(routing_text(), encoding="utf-8")
    assert main(["audit", world.users["alice"], "--routing", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [p["team"] for p in shown["profiles"]] == ["team1", "team2", "old"]
    assert shown["cloudtrail_lake_query"].startswith("SELECT")


def test_the_domain_a_team_left_is_read_when_accounts_lists_it(
        world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob = world.users["alice"], world.users["bob"]
    former = former_domain(world)  # holds alice's profile of the team 'gone'
    path = tmp_path / "routing.yaml"
    path.write_text(routing_text(), encoding="utf-8")
    assert main(["audit", alice, "--routing", str(path), "--json"]) == 0
    assert "gone" not in [p["team"] for p in json.loads(capsys.readouterr().out)["profiles"]]

    write_registry(tmp_path / "accounts")
    assert main(["audit", alice, "--routing", str(path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(p["team"], p["domain_id"]) for p in shown["profiles"]][-1] == ("gone", former[2])
    assert shown["problems"] == [] and "'222222222222'" in shown["cloudtrail_lake_query"]
    assert main(["audit", bob, "--routing", str(path), "--json"]) == 0  # someone else's is not shown
    assert "gone" not in [p["team"] for p in json.loads(capsys.readouterr().out)["profiles"]]
