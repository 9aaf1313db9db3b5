"""The rollout against the emulator: two spoke accounts in two regions each."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from broker.aws import AwsClients
from broker.cli import main
from broker.ops import rollout
from broker.ops.accounts import load_accounts
from broker.ops.stacksets import desired_stack_sets

from .conftest import (
    ACCOUNT_A,
    ACCOUNT_B,
    BROKER_ROLE,
    EXTERNAL_ID,
    ROLLOUT_YAML,
    TWO_BY_TWO,
    CallLog,
    routing_of,
    spoke_session,
    team,
    two_by_two_routing,
)

STACK_SETS = ["studio-spoke-network", "studio-spoke-access", "studio-team-roles-111111111111",
              "studio-team-roles-222222222222", "studio-spoke-domain"]


def test_create_deploys_every_account_and_region(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    registry = load_accounts(accounts_dir(TWO_BY_TWO))
    lines: list[str] = []

    summary = rollout.apply(clients, registry, two_by_two_routing(), progress=lines.append,
                            poll_seconds=0)

    assert summary.ok, summary.failed
    done = {(r.stack_set, r.account, r.region) for r in summary.results}
    assert {(s, a) for s, a, _ in done} == {
        ("studio-spoke-network", ACCOUNT_A), ("studio-spoke-network", ACCOUNT_B),
        ("studio-spoke-domain", ACCOUNT_A), ("studio-spoke-domain", ACCOUNT_B),
        ("studio-spoke-access", ACCOUNT_A), ("studio-spoke-access", ACCOUNT_B),
        ("studio-team-roles-111111111111", ACCOUNT_A), ("studio-team-roles-222222222222", ACCOUNT_B)}
    assert len([d for d in done if d[0] == "studio-spoke-domain"]) == 4
    # IAM is global: account-wide roles only in the home (first) region.
    assert ("studio-spoke-access", ACCOUNT_B, "eu-west-1") in done
    assert ("studio-spoke-access", ACCOUNT_B, "us-east-1") not in done
    assert all(r.action == "create" and r.status == "SUCCEEDED" for r in summary.results)
    assert any("studio-spoke-domain: create 222222222222" in line for line in lines)

    for account, regions in TWO_BY_TWO.items():
        for region, domain_name in regions:
            sagemaker = spoke_session(account, region).client("sagemaker")
            domain = sagemaker.describe_domain(DomainId=f"d-{domain_name}")
            assert domain["AuthMode"] == "IAM"
            assert domain["AppNetworkAccessType"] == "VpcOnly"
            assert domain["DomainSettings"]["ExecutionRoleIdentityConfig"] == "USER_PROFILE_NAME"
            assert domain["KmsKeyId"].startswith(f"arn:aws:kms:{region}:{account}:key/")
            assert len(domain["SubnetIds"]) == 2
            ec2 = spoke_session(account, region).client("ec2")
            endpoints = {e["ServiceName"] for e in ec2.describe_vpc_endpoints(
                Filters=[{"Name": "vpc-id", "Values": [domain["VpcId"]]}])["VpcEndpoints"]}
            assert {f"com.amazonaws.{region}.sagemaker.api", f"com.amazonaws.{region}.sts",
                    f"com.amazonaws.{region}.s3", f"aws.sagemaker.{region}.studio"} <= endpoints

    iam = spoke_session(ACCOUNT_A, "us-east-1").client("iam")
    trust = iam.get_role(RoleName="StudioBrokerAccess")["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assume = trust["Statement"][0]
    assert assume["Principal"] == {"AWS": BROKER_ROLE}
    assert assume["Condition"] == {
        "StringEquals": {"sts:ExternalId": EXTERNAL_ID},
        "Null": {"sts:SourceIdentity": "false", "aws:RequestTag/User": "false",
                 "aws:RequestTag/Team": "false", "aws:RequestTag/Profile": "false"},
    }
    role = iam.get_role(RoleName="studio-team2-execution")["Role"]
    assert {"Key": "Team", "Value": "team2"} in role["Tags"]


def test_rerun_without_changes_changes_nothing(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    registry = load_accounts(accounts_dir(TWO_BY_TWO))
    rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)
    log = CallLog(clients)

    again = rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)

    assert again.ok
    assert {r.status for r in again.results} == {"UNCHANGED"}
    assert len(again.results) == 12
    assert log.mutating() == []
    assert not rollout.plan(clients, registry, two_by_two_routing()).changed


def test_adding_a_team_changes_only_its_spoke(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    registry = load_accounts(accounts_dir(TWO_BY_TWO))
    rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)
    log = CallLog(clients)
    routing = two_by_two_routing(team("team4", ACCOUNT_B, "us-east-1", "studio-b-use1"))

    planned = rollout.plan(clients, registry, routing)
    summary = rollout.apply(clients, registry, routing, poll_seconds=0)

    assert summary.ok
    changed = {(r.stack_set, r.account, r.region, r.action) for r in summary.changed}
    assert changed == {
        ("studio-team-roles-222222222222", ACCOUNT_B, "eu-west-1", "update"),
        ("studio-spoke-access", ACCOUNT_B, "eu-west-1", "update"),
    }
    access = next(s for s in planned.stack_sets if s.spec.name == "studio-spoke-access")
    update = next(i for i in access.instances if i.action == "update")
    assert "studio-team4-execution" in update.details[0]
    # Every mutating call names only account B.
    for name, params in log.calls:
        if name in ("UpdateStackInstances", "CreateStackInstances"):
            assert params["Accounts"] == [ACCOUNT_B]
        if name == "UpdateStackSet":
            assert params["StackSetName"] == "studio-team-roles-222222222222"
    iam = spoke_session(ACCOUNT_B, "eu-west-1").client("iam")
    assert iam.get_role(RoleName="studio-team4-execution")["Role"]["Tags"] == [
        {"Key": "Team", "Value": "team4"}]
    policy = iam.get_role_policy(RoleName="StudioBrokerAccess", PolicyName="studio-broker-access")
    document = policy["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    passrole = next(s for s in document["Statement"] if s["Sid"] == "PassOnlyTeamRolesToSageMaker")
    assert passrole["Resource"] == [f"arn:aws:iam::{ACCOUNT_B}:role/studio-team3-execution",
                                    f"arn:aws:iam::{ACCOUNT_B}:role/studio-team4-execution"]
    assert not rollout.plan(clients, registry, routing).changed


def test_a_failing_instance_is_reported_and_the_others_are_deployed(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    root = accounts_dir(TWO_BY_TWO)
    good = (root / f"{ACCOUNT_B}.yaml").read_text()
    # eu-west-1z passes the file's checks but does not exist: CloudFormation fails the subnet.
    (root / f"{ACCOUNT_B}.yaml").write_text(good.replace(
        "    domain_name: studio-b-euw1\n",
        "    domain_name: studio-b-euw1\n    availability_zones: [eu-west-1a, eu-west-1z]\n"))
    registry = load_accounts(root)

    summary = rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)

    assert not summary.ok
    failed = {(r.stack_set, r.account, r.region): r for r in summary.failed}
    assert set(failed) == {("studio-spoke-network", ACCOUNT_B, "eu-west-1"),
                           ("studio-spoke-domain", ACCOUNT_B, "eu-west-1")}
    network = failed[("studio-spoke-network", ACCOUNT_B, "eu-west-1")]
    assert network.status == "FAILED"
    assert "eu-west-1z" in (network.reason or "") and "availabilityZone" in (network.reason or "")
    domain = failed[("studio-spoke-domain", ACCOUNT_B, "eu-west-1")]
    assert domain.status == "SKIPPED"
    assert domain.reason == "studio-spoke-network failed in this account and region"
    assert len([r for r in summary.results if r.status == "SUCCEEDED"]) == 10
    # Nothing half-built is left in the failed region, and the domain was not attempted.
    session = spoke_session(ACCOUNT_B, "eu-west-1")
    assert session.client("sagemaker").list_domains()["Domains"] == []
    assert [s for s in session.client("cloudformation").describe_stacks()["Stacks"]
            if "network" in s["StackName"]] == []
    states = {(s.stack_set, s.account, s.region): s for s in rollout.status(
        clients, registry, two_by_two_routing())}
    assert states[("studio-spoke-network", ACCOUNT_B, "eu-west-1")].status == "OUTDATED"
    assert "eu-west-1z" in (states[("studio-spoke-network", ACCOUNT_B, "eu-west-1")].reason or "")

    # Fixed in the file, the next apply retries just that instance and its dependant.
    (root / f"{ACCOUNT_B}.yaml").write_text(good)
    fixed = rollout.apply(clients, load_accounts(root), two_by_two_routing(), poll_seconds=0)
    assert fixed.ok
    assert {(r.stack_set, r.action) for r in fixed.changed} == {
        ("studio-spoke-network", "retry"), ("studio-spoke-domain", "create")}


REPO = Path(__file__).parent.parent.parent


def test_cli_on_the_repository_files(clients: AwsClients, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--accounts", str(REPO / "accounts"), "--routing", str(REPO / "routing.yaml")]

    assert main(["rollout", "apply", *args, "--poll-seconds", "0", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is True and len(out["results"]) == 8
    assert main(["rollout", "plan", *args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["changed"] is False
    assert main(["rollout", "drift", *args]) == 0
    assert capsys.readouterr().out.strip() == "no drift"
    assert main(["rollout", "status", *args]) == 0
    assert capsys.readouterr().out.count("CURRENT (SUCCEEDED)") == 8


def test_cli_exits_non_zero_when_an_instance_fails(
        clients: AwsClients, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "accounts"
    shutil.copytree(REPO / "accounts", root)
    spoke = root / "222222222222.yaml"
    spoke.write_text(spoke.read_text().replace(
        "    domain_name: team2studio\n",
        "    domain_name: team2studio\n    availability_zones: [eu-west-1a, eu-west-1q]\n"))
    args = ["--accounts", str(root), "--routing", str(REPO / "routing.yaml"), "--poll-seconds", "0"]

    assert main(["rollout", "apply", *args]) == 1
    captured = capsys.readouterr()
    assert "studio-spoke-network: create 222222222222 eu-west-1: FAILED, 1 failed" in captured.err
    assert "studio-spoke-network                     FAILED" in captured.out
    assert "eu-west-1q" in captured.out
    assert "2 instance(s) failed or were skipped." in captured.out
    assert "us-east-1       studio-spoke-domain                      SUCCEEDED" in captured.out
    assert main(["rollout", "status", *args[:4]]) == 1


def test_cli_refuses_routing_to_an_unregistered_account(
        clients: AwsClients, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "accounts"
    shutil.copytree(REPO / "accounts", root)
    (root / "222222222222.yaml").unlink()
    log = CallLog(clients)

    code = main(["rollout", "apply", "--accounts", str(root), "--routing", str(REPO / "routing.yaml")])

    assert code == 2
    err = capsys.readouterr().err
    assert f"teams[team2]: account 222222222222 is not registered (add {root}/222222222222.yaml)" in err
    assert log.calls == []


def test_drift_reports_a_spoke_changed_outside_the_repository(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    registry = load_accounts(accounts_dir(TWO_BY_TWO))
    routing = two_by_two_routing()
    rollout.apply(clients, registry, routing, poll_seconds=0)
    # Someone overrides an instance by hand, outside the repository.
    clients.hub("cloudformation", "us-east-1").update_stack_instances(
        StackSetName="studio-spoke-access", Accounts=[ACCOUNT_A], Regions=["us-east-1"],
        ParameterOverrides=[{"ParameterKey": "ExternalId", "ParameterValue": "changed-by-hand"}])

    findings = rollout.drift(clients, registry, routing, detect=True, poll_seconds=0)

    assert findings == [
        f"studio-spoke-access {ACCOUNT_A} us-east-1: update (ExternalId: changed-by-hand -> {EXTERNAL_ID}; "
        "RoleName: (unset) -> StudioBrokerAccess; TeamRoleArns: (unset) -> "
        f"arn:aws:iam::{ACCOUNT_A}:role/studio-team1-execution,"
        f"arn:aws:iam::{ACCOUNT_A}:role/studio-team2-execution)"
    ]


def test_removing_an_account_deletes_its_domain_before_its_network(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    root = accounts_dir(TWO_BY_TWO)
    rollout.apply(clients, load_accounts(root), two_by_two_routing(), poll_seconds=0)
    (root / f"{ACCOUNT_B}.yaml").unlink()
    routing = routing_of(team("team1", ACCOUNT_A, "us-east-1", "studio-a-use1"),
                         team("team2", ACCOUNT_A, "eu-west-1", "studio-a-euw1"))
    log = CallLog(clients)

    summary = rollout.apply(clients, load_accounts(root), routing, poll_seconds=0)

    assert summary.ok, summary.failed
    deletes = [(params["StackSetName"], params["Accounts"], params["Regions"])
               for name, params in log.calls if name == "DeleteStackInstances"]
    # The account's team roles go too (its team-roles StackSet is no longer desired, but deployed).
    assert deletes == [
        ("studio-spoke-domain", [ACCOUNT_B], ["eu-west-1", "us-east-1"]),
        ("studio-team-roles-222222222222", [ACCOUNT_B], ["eu-west-1"]),
        ("studio-spoke-access", [ACCOUNT_B], ["eu-west-1"]),
        ("studio-spoke-network", [ACCOUNT_B], ["eu-west-1", "us-east-1"]),
    ]
    roles = spoke_session(ACCOUNT_B, "eu-west-1").client("iam").list_roles()["Roles"]
    assert "studio-team3-execution" not in {r["RoleName"] for r in roles}
    assert not rollout.plan(clients, load_accounts(root), routing).changed
    for region, _ in TWO_BY_TWO[ACCOUNT_B]:
        session = spoke_session(ACCOUNT_B, region)
        assert session.client("sagemaker").list_domains()["Domains"] == []
        assert session.client("ec2").describe_subnets(
            Filters=[{"Name": "cidr-block", "Values": ["10.30.0.0/19", "10.31.0.0/19"]}])["Subnets"] == []


def test_the_emulator_refuses_to_delete_a_network_that_a_domain_uses(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    rollout.apply(clients, load_accounts(accounts_dir(TWO_BY_TWO)), two_by_two_routing(), poll_seconds=0)
    cfn = clients.hub("cloudformation", "us-east-1")

    operation = cfn.delete_stack_instances(StackSetName="studio-spoke-network", Accounts=[ACCOUNT_B],
                                           Regions=["eu-west-1"], RetainStacks=False)["OperationId"]

    (result,) = cfn.list_stack_set_operation_results(
        StackSetName="studio-spoke-network", OperationId=operation)["Summaries"]
    assert result["Status"] == "FAILED"
    assert result["StatusReason"].startswith("DependencyViolation: The resource ")
    assert "SageMaker domain d-studio-b-euw1 uses it" in result["StatusReason"]
    instance = cfn.describe_stack_instance(StackSetName="studio-spoke-network",
                                           StackInstanceAccount=ACCOUNT_B, StackInstanceRegion="eu-west-1")
    assert instance["StackInstance"]["Status"] == "OUTDATED"


HUB_RECONCILE_ROLE = "arn:aws:iam::123456789012:role/studio-broker-ReconcileRole-1A2B"


def test_the_spoke_reconcile_role_is_deployed_only_when_the_hub_names_its_role(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    without = load_accounts(accounts_dir(TWO_BY_TWO))
    (access,) = [s for s in desired_stack_sets(without, two_by_two_routing())
                 if s.name == "studio-spoke-access"]
    assert access.parameters["ReconcileRoleArn"] == ""  # the template then makes no reconcile role
    settings = ROLLOUT_YAML.replace(
        "region: us-east-1}", f'region: us-east-1, reconcile_role_arn: "{HUB_RECONCILE_ROLE}"}}')
    registry = load_accounts(accounts_dir(TWO_BY_TWO, rollout=settings))
    assert registry.settings.reconcile_role_arn == HUB_RECONCILE_ROLE

    summary = rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)

    assert summary.ok, summary.failed
    for account, home in ((ACCOUNT_A, "us-east-1"), (ACCOUNT_B, "eu-west-1")):
        iam = spoke_session(account, home).client("iam")
        role = iam.get_role(RoleName="StudioBrokerReconcile")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"] == [{
            "Sid": "HubReconcileJobOnlyWithExternalId", "Effect": "Allow",
            "Principal": {"AWS": HUB_RECONCILE_ROLE}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": EXTERNAL_ID}}}]
        assert iam.list_role_policies(RoleName="StudioBrokerReconcile")["PolicyNames"] == [
            "studio-broker-reconcile"]
    stack_set = clients.hub("cloudformation", "us-east-1").describe_stack_set(
        StackSetName="studio-spoke-access")["StackSet"]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    assert passed["ReconcileRoleArn"] == HUB_RECONCILE_ROLE
    assert passed["ReconcileRoleName"] == "StudioBrokerReconcile"


def test_without_the_setting_no_spoke_gets_a_reconcile_role(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    summary = rollout.apply(clients, load_accounts(accounts_dir(TWO_BY_TWO)), two_by_two_routing(),
                            poll_seconds=0)
    assert summary.ok, summary.failed
    iam = spoke_session(ACCOUNT_A, "us-east-1").client("iam")
    names = {r["RoleName"] for r in iam.list_roles()["Roles"]}
    assert "StudioBrokerAccess" in names and "StudioBrokerReconcile" not in names


def test_setting_the_hub_reconcile_role_later_adds_the_role_to_deployed_spokes(
        clients: AwsClients, accounts_dir: Callable[..., Path]) -> None:
    rollout.apply(clients, load_accounts(accounts_dir(TWO_BY_TWO)), two_by_two_routing(), poll_seconds=0)
    settings = ROLLOUT_YAML.replace(
        "region: us-east-1}", f'region: us-east-1, reconcile_role_arn: "{HUB_RECONCILE_ROLE}"}}')
    registry = load_accounts(accounts_dir(TWO_BY_TWO, rollout=settings))
    plan = rollout.plan(clients, registry, two_by_two_routing())
    assert plan.changed
    assert rollout.plan(clients, registry, two_by_two_routing()) == plan  # deterministic

    summary = rollout.apply(clients, registry, two_by_two_routing(), poll_seconds=0)

    assert summary.ok, summary.failed
    iam = spoke_session(ACCOUNT_B, "eu-west-1").client("iam")
    role = iam.get_role(RoleName="StudioBrokerReconcile")["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT_B}:role/StudioBrokerReconcile"
    assert not rollout.plan(clients, registry, two_by_two_routing()).changed
