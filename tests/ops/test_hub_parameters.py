"""``broker routing hub-parameters``: the hub's parameters derived from routing.yaml, for sam deploy."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from broker.cli import main
from broker.config import RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops.hub_parameters import deployment_preference, hub_parameters, parameter_overrides
from broker.ops.routing_source import load_routing_table, parse_routing_table

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
    assert re.fullmatch(r'([0-9a-f]{40})?|""', printed.pop("SourceRevision"))
    return printed


def test_the_repository_table_gives_the_hub_its_role_name_audience_and_acs_url(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert printed(capsys, str(REPO / "routing.yaml")) == {
        "BrokerAccessRoleName": "StudioBrokerAccess",
        "SamlEntityId": "urn:example:studio-broker",
        "CustomAcsUrl": "https://broker.example.com/prod/saml/acs",
        "ReconcileSpokeRoleName": "StudioBrokerReconcile",  # accounts/rollout.yaml's default
        "DeploymentPreference": "Canary10Percent5Minutes",  # no --base: nothing to compare with
    }


def _registry_with(tmp_path: Path, rollout_extra: str) -> Path:
    """A copy of the repository's routing.yaml and accounts/, with lines added under ``hub:``."""
    shutil.copy(REPO / "routing.yaml", tmp_path / "routing.yaml")
    shutil.copytree(REPO / "accounts", tmp_path / "accounts")
    rollout = tmp_path / "accounts" / "rollout.yaml"
    text = rollout.read_text(encoding="utf-8")
    rollout.write_text(text.replace("\nhub:\n", f"\nhub:\n{rollout_extra}", 1), encoding="utf-8")
    return tmp_path / "routing.yaml"


def test_the_reconcile_role_name_is_the_one_the_rollout_gives_every_spoke(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from broker.ops.accounts import load_accounts
    from broker.ops.stacksets import _templated

    table = _registry_with(tmp_path, "  reconcile_role_name: TeamStudioReconcile\n")
    assert printed(capsys, str(table))["ReconcileSpokeRoleName"] == "TeamStudioReconcile"
    settings = load_accounts(tmp_path / "accounts").settings
    # the spokes' broker-access StackSet names the same role, so the job may assume what exists
    assert _templated(settings)["access"].shared["ReconcileRoleName"] == "TeamStudioReconcile"


def test_without_a_registry_the_template_keeps_its_reconcile_role_name(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(REPO / "routing.yaml", tmp_path / "routing.yaml")
    assert "ReconcileSpokeRoleName" not in printed(capsys, str(tmp_path / "routing.yaml"))
    assert main(["routing", "hub-parameters", str(tmp_path / "routing.yaml")]) == 0
    assert "no account registry at" in capsys.readouterr().err


def test_a_broken_registry_prints_its_problems_and_no_parameters(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _registry_with(tmp_path, "  reconcile_role_name: 'not a role name'\n")
    assert main(["routing", "hub-parameters", str(table)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "rollout.yaml" in captured.err and "reconcile_role_name" in captured.err


def test_the_printed_role_name_is_every_teams_broker_role_and_the_one_the_hub_may_assume(
        capsys: pytest.CaptureFixture[str]) -> None:
    name = printed(capsys, str(REPO / "routing.yaml"))["BrokerAccessRoleName"]
    teams = load_routing_table(REPO / "routing.yaml", check_expiry=False).teams.values()
    assert teams and {t.broker_role_arn.rsplit(":role/", 1)[1] for t in teams} == {name}
    hub = (REPO / "template.yaml").read_text(encoding="utf-8")
    # the broker's role, then the reconcile job's own role (ReconcileRole, its spoke role)
    assert re.findall(r"iam::\*:role/\$\{(\w+)\}", hub) == ["BrokerAccessRoleName", "ReconcileSpokeRoleName"]


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


# --- DeploymentPreference: all at once only for a change that only adds to the table -----------

EDITS = REPO / "tests" / "fixtures" / "routing_edits"


def edit(name: str) -> RoutingTable:
    return parse_routing_table((EDITS / f"{name}.yaml").read_text(), f"{name}.yaml", check_expiry=False)


@pytest.mark.parametrize(("name", "files", "expected"), [
    ("add_team_new_application", ["routing.yaml"], "AllAtOnce"),
    ("add_team_to_existing_application", ["routing.yaml"], "AllAtOnce"),
    ("add_team_new_spoke_account", ["accounts/555555555555.yaml", "routing.yaml"], "AllAtOnce"),
    ("add_team_new_application", ["broker/login.py", "routing.yaml"], "Canary10Percent5Minutes"),
    ("add_team_new_application", ["template.yaml", "routing.yaml"], "Canary10Percent5Minutes"),
    ("add_team_new_application", None, "Canary10Percent5Minutes"),
    ("change_execution_role", ["routing.yaml"], "Canary10Percent5Minutes"),
    ("remove_team", ["routing.yaml"], "Canary10Percent5Minutes"),
    ("disable_team", ["routing.yaml"], "Canary10Percent5Minutes"),
    ("change_acs_url", ["routing.yaml"], "Canary10Percent5Minutes"),
    ("reorder_and_defaults", ["routing.yaml"], "Canary10Percent5Minutes"),
])
def test_all_at_once_only_when_the_change_only_adds_to_the_table(
        name: str, files: list[str] | None, expected: str) -> None:
    choice = deployment_preference(edit("base"), edit(name), files)
    assert choice.preference == expected, choice.reason


def test_the_reason_says_what_decided() -> None:
    adds = deployment_preference(edit("base"), edit("add_team_new_application"), ["routing.yaml"])
    assert "only adds to routing.yaml (team3, application studio-team3)" in adds.reason
    assert "(404)" in adds.reason
    code = deployment_preference(edit("base"), edit("add_team_new_application"),
                                 ["broker/login.py", "routing.yaml"])
    assert "more than the routing table (broker/login.py)" in code.reason
    changes = deployment_preference(edit("base"), edit("change_execution_role"), ["routing.yaml"])
    assert "team team2 (changed)" in changes.reason
    first = deployment_preference(None, edit("base"), ["routing.yaml"])
    assert first.preference == "Canary10Percent5Minutes" and "no deployed revision" in first.reason
    assert deployment_preference(edit("base"), edit("change_execution_role"), ["routing.yaml"],
                                 "Linear10PercentEvery1Minute").preference == "Linear10PercentEvery1Minute"


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_cli_compares_with_the_deployed_revision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> str:
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                              cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    table = tmp_path / "routing.yaml"
    shutil.copy(EDITS / "base.yaml", table)
    (tmp_path / "template.yaml").write_text("# the hub\n")
    git("add", ".")
    git("commit", "-q", "-m", "deployed")
    deployed = git("rev-parse", "HEAD")

    def run(*args: str) -> tuple[dict[str, str], str]:
        assert main(["routing", "hub-parameters", str(table), *args]) == 0
        captured = capsys.readouterr()
        return dict(pair.split("=", 1) for pair in captured.out.split()), captured.err

    clean, _ = run()
    assert clean["SourceRevision"] == deployed  # what the next deploy compares with
    shutil.copy(EDITS / "add_team_new_application.yaml", table)
    adds, why = run("--base", deployed)
    assert adds["DeploymentPreference"] == "AllAtOnce" and adds["SourceRevision"] == '""'  # uncommitted
    assert why.splitlines()[-1].startswith(  # after the note that there is no account registry
        "DeploymentPreference=AllAtOnce: the change only adds to routing.yaml")
    (tmp_path / "template.yaml").write_text("# the hub, changed\n")
    other, why = run("--base", deployed)
    assert other["DeploymentPreference"] == "Canary10Percent5Minutes" and "template.yaml" in why
    unknown, why = run("--base", "0" * 40)
    assert unknown["DeploymentPreference"] == "Canary10Percent5Minutes" and "cannot compare" in why
