"""broker profiles reconcile: a spoke with live, orphaned and foreign profiles, dry run and apply."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from broker import reconcile
from broker.aws import AwsClients
from broker.cli import main
from broker.emulator import settings
from broker.membership import MembershipResolver
from broker.ops import profiles_commands
from broker.reconcile import TooManyOrphans, Waiting

from .world import (
    FORMER,
    SPOKE_ROLE,
    TEAM1,
    TEAM2,
    Calls,
    World,
    build_world,
    former_domain,
    routing,
    routing_text,
    sagemaker_in,
    write_registry,
)

ORPHANS = {"person_gone", "not_in_team_groups", "team_not_in_table"}
KEPT = {"live", "foreign_untagged", "foreign_mismatch"}
FAST = Waiting(poll_seconds=0.05, timeout_seconds=10)


@pytest.fixture
def world(emulated_aws: None) -> World:
    return build_world()


def run(clients: AwsClients, *, apply: bool = False, max_deletions: int = 5) -> reconcile.Report:
    table = routing()
    spokes = reconcile.spoke_role_clients(clients, SPOKE_ROLE)
    assert table.identity_store is not None
    report = reconcile.survey(table, spokes, MembershipResolver(clients, table.identity_store))
    if apply:
        reconcile.apply(report, spokes, max_deletions, waiting=FAST)
    return report


def by_label(world: World, report: reconcile.Report) -> dict[str, reconcile.Finding]:
    found = {(f.domain_id, f.profile): f for f in report.findings}
    return {label: found[(where[2], name)] for label, (where, name) in world.profiles.items()}


def test_the_dry_run_judges_every_profile_and_changes_nothing(world: World) -> None:
    clients = AwsClients()
    calls = Calls(clients)
    report = run(clients)
    judged = by_label(world, report)
    assert {label for label, f in judged.items() if f.verdict == "orphan"} == ORPHANS
    assert {f.reason for label, f in judged.items() if label in ORPHANS} == ORPHANS
    assert judged["live"].verdict == "live" and judged["live"].action == "keep"
    assert judged["foreign_untagged"].verdict == judged["foreign_mismatch"].verdict == "foreign"
    assert len(report.findings) == len(world.profiles)
    gone = judged["person_gone"]
    assert gone.spaces == ("bob-space",)
    assert {(a.space, a.app_type, a.status) for a in gone.apps} == {
        (None, "JupyterServer", "InService"), ("bob-space", "JupyterLab", "InService")}
    assert calls.deleting() == []
    assert len(world.names_in(TEAM1)) == 5 and len(world.names_in(TEAM2)) == 1


def test_apply_removes_exactly_the_orphans_apps_then_spaces_then_profiles(world: World) -> None:
    clients = AwsClients()
    calls = Calls(clients)
    report = run(clients, apply=True)
    judged = by_label(world, report)
    assert {label for label, f in judged.items() if f.action == "deleted"} == ORPHANS
    assert {label for label, f in judged.items() if f.action == "keep"} == KEPT
    kept = {name for label, (_, name) in world.profiles.items() if label in KEPT}
    assert set(world.names_in(TEAM1)) == kept and world.names_in(TEAM2) == []
    bob = world.profiles["person_gone"][1]
    bobs_deletes = [d for d in calls.deleting() if d[1].startswith((bob, "bob-space"))]
    assert bobs_deletes == [("DeleteApp", f"{bob}/JupyterServer"), ("DeleteApp", "bob-space/JupyterLab"),
                            ("DeleteSpace", "bob-space"), ("DeleteUserProfile", bob)]
    alive = sagemaker_in(TEAM1).list_apps(DomainIdEquals=TEAM1[2],
                                          UserProfileNameEquals=world.profiles["live"][1])
    assert [a["Status"] for a in alive["Apps"]] == ["InService"]  # a live person's app is untouched


def test_a_second_apply_changes_nothing(world: World) -> None:
    run(AwsClients(), apply=True)
    clients = AwsClients()
    calls = Calls(clients)
    again = run(clients, apply=True)
    assert again.orphans == [] and calls.deleting() == []
    assert {f.verdict for f in again.findings} == {"live", "foreign"}


def test_max_refuses_and_deletes_nothing(world: World) -> None:
    clients = AwsClients()
    calls = Calls(clients)
    with pytest.raises(TooManyOrphans) as refused:
        run(clients, apply=True, max_deletions=2)
    assert (refused.value.found, refused.value.allowed) == (3, 2)
    assert calls.deleting() == []
    assert len(world.names_in(TEAM1)) == 5


def test_apply_waits_for_apps_to_be_deleted_before_the_space_and_the_profile(world: World) -> None:
    clients = AwsClients()
    report = run(clients)
    settings.configure(profile_delay_seconds=0.3)  # Deleting lasts 0.3 s; SageMaker refuses early deletes
    started = time.monotonic()
    reconcile.apply(report, reconcile.spoke_role_clients(clients, SPOKE_ROLE), 5, waiting=FAST)
    assert time.monotonic() - started >= 0.3
    assert {f.action for f in report.orphans} == {"deleted"}


def test_without_groups_only_the_team_that_left_is_an_orphan(world: World) -> None:
    clients = AwsClients()
    report = reconcile.survey(routing(groups=False), reconcile.spoke_role_clients(clients, SPOKE_ROLE), None)
    judged = by_label(world, report)
    assert {label for label, f in judged.items() if f.verdict == "orphan"} == {"team_not_in_table"}


# --- the command line --------------------------------------------------------------------------


@pytest.fixture
def routing_file(tmp_path: Path) -> Path:
    path = tmp_path / "routing.yaml"
    path.write_text(routing_text(), encoding="utf-8")
    return path


def use_clients(monkeypatch: pytest.MonkeyPatch, clients: AwsClients) -> None:
    monkeypatch.setattr(profiles_commands, "aws_clients", lambda endpoint: clients)


def test_the_command_dry_runs_by_default_and_applies_with_apply(
        world: World, routing_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["mode"] == "dry-run" and dry["orphans"] == 3 and dry["counts"]["foreign"] == 2
    assert "EFS" in dry["home_directories"]
    assert len(world.names_in(TEAM1)) == 5
    applying = ["profiles", "reconcile", "--routing", str(routing_file), "--apply", "--poll-seconds", "0"]
    assert main(applying) == 0
    out, err = capsys.readouterr()
    assert "applied: 3 of 3 orphans deleted" in out and "deleting space bob-space" in err
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--apply"]) == 0
    assert "applied: 0 of 0 orphans deleted" in capsys.readouterr().out  # idempotent


def test_the_command_refuses_more_than_max_with_exit_4(
        world: World, routing_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--apply", "--max", "1"]) == 4
    assert "nothing was deleted" in capsys.readouterr().err
    assert len(world.names_in(TEAM1)) == 5 and len(world.names_in(TEAM2)) == 1


def throttle(request: Any, **_: Any) -> Any:
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()

    return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Raw())


def refuse(request: Any, **_: Any) -> None:
    raise EndpointConnectionError(endpoint_url=request.url)


@pytest.mark.parametrize(("hook", "reason"), [(throttle, "identity_store_throttled"),
                                              (refuse, "identity_store_unreachable")])
def test_an_identity_store_that_fails_is_one_line_exit_3_and_nothing_deleted(
        world: World, routing_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        hook: Any, reason: str) -> None:
    clients = AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    clients.register("before-send.identitystore", hook)
    calls = Calls(clients)
    use_clients(monkeypatch, clients)
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--apply"]) == 3
    err_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("broker ")]
    assert len(err_lines) == 1 and reason in err_lines[0] and "nothing was deleted" in err_lines[0]
    assert calls.deleting() == []
    assert len(world.names_in(TEAM1)) == 5 and len(world.names_in(TEAM2)) == 1


def test_a_routing_table_that_does_not_load_is_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "routing.yaml"
    broken.write_text("version: 1\n", encoding="utf-8")
    assert main(["profiles", "reconcile", "--routing", str(broken)]) == 2
    assert "broker routing validate" in capsys.readouterr().err


# --- the scheduled job -------------------------------------------------------------------------


def job(monkeypatch: pytest.MonkeyPatch, routing_file: Path, **env: str) -> dict[str, Any]:
    from broker.ops.routing_source import compile_routing_file
    from broker.routing import clear_cache

    compiled = routing_file.with_suffix(".json")  # the job, like the broker, runs on the compiled table
    compiled.write_text(compile_routing_file(routing_file), encoding="utf-8")
    for name, value in {"BROKER_ROUTING_FILE": str(compiled), "BROKER_RECONCILE_SPOKE_ROLE": SPOKE_ROLE,
                        "POWERTOOLS_SERVICE_NAME": "studio-broker-reconcile", **env}.items():
        monkeypatch.setenv(name, value)
    clear_cache()
    try:
        return reconcile.lambda_handler({}, None)
    finally:
        clear_cache()


def orphans_metric(out: str) -> list[float]:
    blobs = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    values = [b["ReconcileOrphans"] for b in blobs if "ReconcileOrphans" in b]
    return [float(v[0] if isinstance(v, list) else v) for v in values]


def test_the_job_reports_and_publishes_by_default_and_deletes_nothing(
        world: World, routing_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    summary = job(monkeypatch, routing_file)
    assert summary["orphans"] == 3 and summary["applied"] is False
    assert orphans_metric(capsys.readouterr().out) == [3.0]
    assert len(world.names_in(TEAM1)) == 5 and len(world.names_in(TEAM2)) == 1


def test_the_job_applies_only_when_told_and_within_its_max(
        world: World, routing_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = job(monkeypatch, routing_file, BROKER_RECONCILE_APPLY="true", BROKER_RECONCILE_MAX="2")
    assert refused["applied"] is False and len(world.names_in(TEAM1)) == 5
    applied = job(monkeypatch, routing_file, BROKER_RECONCILE_APPLY="true", BROKER_RECONCILE_MAX="3")
    assert applied["applied"] is True and len(world.names_in(TEAM1)) == 3 and world.names_in(TEAM2) == []


def answer_describe_user(clients: AwsClients, user_id: str | None, code: str) -> None:
    """The Identity Store answers ``code`` to DescribeUser of ``user_id`` (None: of anyone)."""
    from botocore.awsrequest import AWSResponse

    class Raw:
        def stream(self, **_: Any) -> Any:
            yield json.dumps({"__type": code, "message": "refused"}).encode()

    def respond(request: Any, **_: Any) -> Any:
        target = request.headers.get("X-Amz-Target", b"")
        body = json.loads(request.body or b"{}")
        if b"DescribeUser" in (target if isinstance(target, bytes) else target.encode()) and \
                user_id in (None, body.get("UserId")):
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Raw())
        return None

    clients.register("before-send.identitystore", respond)


def test_a_user_id_the_store_refuses_is_left_for_review_not_deleted(world: World) -> None:
    from broker.profile_name import profile_name_for

    odd = "alice@example.com"  # not a UserId: AWS answers ValidationException (its pattern)
    sagemaker_in(TEAM1).create_user_profile(
        DomainId=TEAM1[2], UserProfileName=profile_name_for(odd, "team1"),
        Tags=[{"Key": "Team", "Value": "team1"}, {"Key": "User", "Value": odd}])
    clients = AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    answer_describe_user(clients, odd, "ValidationException")
    report = run(clients, apply=True)
    [finding] = [f for f in report.findings if f.user == odd]
    assert (finding.verdict, finding.action) == ("review", "keep")
    assert profile_name_for(odd, "team1") in world.names_in(TEAM1)
    assert {f.reason for f in report.findings if f.action == "deleted"} == ORPHANS


def test_a_denied_lookup_stops_the_run_before_any_delete(world: World) -> None:
    from broker.exceptions import IdentityStoreRefused

    clients = AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    answer_describe_user(clients, None, "AccessDeniedException")
    calls = Calls(clients)
    with pytest.raises(IdentityStoreRefused):
        run(clients, apply=True)
    assert calls.deleting() == [] and len(world.names_in(TEAM1)) == 5


# --- a team that left: the domain it left behind -----------------------------------------------

def test_a_team_that_left_is_found_in_the_domain_it_left_behind(world: World) -> None:
    import dataclasses

    from broker.config import DeployedDomain

    former = former_domain(world)
    clients = AwsClients()
    spokes = reconcile.spoke_role_clients(clients, SPOKE_ROLE)
    table = routing()
    assert table.identity_store is not None
    members = MembershipResolver(clients, table.identity_store)
    # Routed domains only (no registry): the domain it left is never looked at.
    before = reconcile.survey(table, spokes, members)
    assert former[2] not in {f.domain_id for f in before.findings}

    deployed = (DeployedDomain(TEAM1[0], TEAM1[1], "team1studio"), DeployedDomain(*FORMER, "formerstudio"),
                DeployedDomain(FORMER[0], "us-west-2", "notyet"))  # in accounts/, not rolled out yet
    lines: list[str] = []
    report = reconcile.survey(dataclasses.replace(table, deployed_domains=deployed), spokes, members,
                              lines.append)
    [left] = [f for f in report.findings if f.domain_id == former[2]]
    assert (left.team, left.verdict, left.reason, left.action) == (
        "gone", "orphan", "team_not_in_table", "delete")
    assert report.problems == []  # a domain not rolled out yet is a note, not a failure
    assert f"surveying {FORMER[0]} {FORMER[1]} {former[2]} (no team routes here any more)" in lines
    assert any("notyet" in line and "not surveyed" in line for line in lines)
    # The routed domain listed again is surveyed once.
    assert len([f for f in report.findings if f.domain_id == TEAM1[2]]) == len(world.names_in(TEAM1))

    reconcile.apply(report, spokes, 5, waiting=FAST)
    assert world.names_in(former) == []


def test_the_command_surveys_the_registry_s_domains_and_refuses_a_broken_registry(
        world: World, routing_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    former = former_domain(world)
    accounts = write_registry(routing_file.parent / "accounts")  # found next to the table
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--json"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dry["orphans"] == 4
    assert [(p["team"], p["reason"]) for p in dry["profiles"] if p["domain_id"] == former[2]] == [
        ("gone", "team_not_in_table")]

    (accounts / "222222222222.yaml").write_text("version: 1\n")
    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--apply"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "fix the account registry first" in err
    assert len(world.names_in(former)) == 1 and len(world.names_in(TEAM1)) == 5  # nothing deleted

    assert main(["profiles", "reconcile", "--routing", str(routing_file), "--accounts",
                 str(routing_file.parent / "elsewhere"), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["orphans"] == 3 and "no account registry at" in err


def test_the_job_surveys_the_domains_packaging_compiled_in(
        world: World, routing_file: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    former = former_domain(world)
    write_registry(routing_file.parent / "accounts")
    compiled = routing_file.with_suffix(".json")
    assert main(["routing", "compile", str(routing_file), "--output", str(compiled)]) == 0  # as packaging
    for name, value in {"BROKER_ROUTING_FILE": str(compiled), "BROKER_RECONCILE_SPOKE_ROLE": SPOKE_ROLE,
                        "BROKER_RECONCILE_APPLY": "true", "BROKER_RECONCILE_MAX": "4",
                        "POWERTOOLS_SERVICE_NAME": "studio-broker-reconcile"}.items():
        monkeypatch.setenv(name, value)
    from broker.routing import clear_cache

    clear_cache()
    try:
        summary = reconcile.lambda_handler({}, None)
    finally:
        clear_cache()
    assert (summary["orphans"], summary["applied"], summary["problems"]) == (4, True, 0)
    assert world.names_in(former) == []


def test_teardown_with_no_team_left_finds_every_profile_the_broker_made(world: World) -> None:
    """docs/deployment.md's teardown: every team removed, the registry's domains surveyed."""
    import dataclasses
    from types import MappingProxyType

    from broker.config import DeployedDomain

    table = dataclasses.replace(routing(), teams=MappingProxyType({}), deployed_domains=(
        DeployedDomain(TEAM1[0], TEAM1[1], "team1studio"), DeployedDomain(TEAM2[0], TEAM2[1], "team2studio")))
    clients = AwsClients()
    spokes = reconcile.spoke_role_clients(clients, SPOKE_ROLE)
    report = reconcile.survey(table, spokes, None)
    judged = by_label(world, report)
    assert {label for label, f in judged.items() if f.verdict == "orphan"} == ORPHANS | {"live"}
    assert {f.reason for f in report.orphans} == {"team_not_in_table"}
    assert {label for label, f in judged.items() if f.verdict == "foreign"} == {
        "foreign_untagged", "foreign_mismatch"}
    reconcile.apply(report, spokes, len(report.orphans), waiting=FAST)
    assert world.names_in(TEAM2) == []
    foreign = {world.profiles[label][1] for label in ("foreign_untagged", "foreign_mismatch")}
    assert set(world.names_in(TEAM1)) == foreign


def test_each_spoke_lists_its_domains_once(world: World) -> None:
    import dataclasses

    from broker.config import DeployedDomain

    former = former_domain(world)
    clients = AwsClients()
    calls = Calls(clients)
    deployed = (DeployedDomain(TEAM1[0], TEAM1[1], "team1studio"), DeployedDomain(*FORMER, "formerstudio"),
                DeployedDomain(*FORMER, "alsohere"), DeployedDomain(TEAM1[0], TEAM1[1], "another"))
    table = dataclasses.replace(routing(), deployed_domains=deployed)
    report = reconcile.survey(table, reconcile.spoke_role_clients(clients, SPOKE_ROLE), None)
    assert former[2] in {f.domain_id for f in report.findings}
    assert [name for name, _ in calls.made].count("ListDomains") == 2  # TEAM1's spoke and FORMER's
