"""``broker doctor`` on a healthy emulated landscape, then with one fault injected at a time.

The landscape: a hub stack with the outputs template.yaml gives (made with plain
CloudFormation: the emulator has no SAM transform) and its table, and one spoke
built by the real rollout. Each fault is one that would break sign-ins in an
account; the doctor must name it, say how to fix it, and exit 1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from broker.aws import AwsClients
from broker.cli import main
from broker.config import IdpApplication, RoutingTable, SpokeAccess
from broker.ops import doctor, rollout
from broker.ops.accounts import AccountRegistry, load_accounts

from .conftest import ACCOUNT_A, BROKER_ROLE, routing_of, spoke_session, team

ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/VEVBTTE"
ACS_URL = "https://broker.example.com/prod/saml/acs"
STACK = "studio-broker"
HUB_TEMPLATE = {
    "Resources": {"Table": {"Type": "AWS::DynamoDB::Table", "Properties": {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}]}}},
    "Outputs": {
        "AcsUrl": {"Value": ACS_URL},
        "SamlAudience": {"Value": "urn:test"},
        "BrokerRoleArn": {"Value": BROKER_ROLE},
        "ReplayTableName": {"Value": {"Ref": "Table"}},
        "RoutingDigest": {"Value": "ab" * 32},
    },
}


def certificate(days_left: int, *, key_size: int = 2048) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "amazonaws.com")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=400))
            .not_valid_after(now + dt.timedelta(days=days_left)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def with_application(table: RoutingTable, pem: str) -> RoutingTable:
    app = IdpApplication(name="studio-team1", issuer=ISSUER, certificates=(pem,), teams=frozenset({"team1"}))
    return dataclasses.replace(table, applications=MappingProxyType({ISSUER: app}))


@pytest.fixture
def landscape(clients: AwsClients, accounts_dir: Callable[..., Path]) -> tuple[RoutingTable, AccountRegistry]:
    registry = load_accounts(accounts_dir({ACCOUNT_A: [("us-east-1", "studio-a-use1")]}))
    table = with_application(routing_of(team("team1", ACCOUNT_A, "us-east-1", "studio-a-use1")),
                             certificate(days_left=300))
    assert rollout.apply(clients, registry, table, poll_seconds=0).ok
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName=STACK, TemplateBody=json.dumps(HUB_TEMPLATE))
    return table, registry


def examine(clients: AwsClients, table: RoutingTable, registry: AccountRegistry) -> list[doctor.Check]:
    return doctor.examine(clients, table, registry, doctor.DoctorOptions(stack_name=STACK))


def failed(checks: list[doctor.Check]) -> list[tuple[str, str]]:
    return [(c.check, c.detail) for c in checks if c.status == doctor.FAIL]


def test_a_healthy_landscape_is_all_green(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    checks = examine(clients, *landscape)

    assert {c.check for c in checks} == {
        "certificate-expiry", "certificate-key", "hub-stack", "hub-acs-url", "hub-audience",
        "hub-broker-role", "hub-replay-table", "domain", "execution-role", "broker-access-role"}
    assert [c for c in checks if c.status != doctor.OK] == []
    assert doctor.worst(checks) == doctor.OK
    assert "10 ok, 0 warnings, 0 failed" in doctor.render_text(checks)


def test_the_doctor_changes_nothing(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    calls: list[str] = []
    clients.register("provide-client-params", lambda event_name, **_: calls.append(event_name.split(".")[-1]))
    examine(clients, *landscape)
    assert calls and all(name.startswith(("Describe", "List", "Get", "AssumeRole")) for name in calls), calls


def test_a_wrong_external_id_is_named_with_its_fix(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    table, registry = landscape
    other = SpokeAccess(role_name="StudioBrokerAccess", external_id="not-the-deployed-one")
    teams = {t.id: dataclasses.replace(t, spoke_access=other) for t in table.teams.values()}
    checks = examine(clients, dataclasses.replace(table, teams=MappingProxyType(teams)), registry)
    [(name, detail)] = failed(checks)
    assert name == "broker-access-role" and "ExternalId" in detail
    assert "broker rollout apply" in next(c.fix for c in checks if c.check == name)


def test_a_deleted_domain_is_named(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    spoke_session(ACCOUNT_A, "us-east-1").client("sagemaker").delete_domain(DomainId="d-studio-a-use1")
    [(name, detail)] = failed(examine(clients, *landscape))
    assert name == "domain" and "studio-a-use1" in detail


def test_an_execution_role_that_does_not_trust_sagemaker_is_named(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    spoke_session(ACCOUNT_A, "us-east-1").client("iam").update_assume_role_policy(
        RoleName="studio-team1-execution", PolicyDocument=json.dumps(trust))
    [(name, detail)] = failed(examine(clients, *landscape))
    assert name == "execution-role" and "sagemaker.amazonaws.com" in detail


@pytest.mark.parametrize(("days_left", "status"), [(-1, doctor.FAIL), (10, doctor.WARN)])
def test_an_expired_or_expiring_certificate_is_named(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry], days_left: int, status: str
) -> None:
    table, registry = landscape
    checks = examine(clients, with_application(table, certificate(days_left)), registry)
    [expiry] = [c for c in checks if c.check == "certificate-expiry"]
    assert expiry.status == status and "add-application" in expiry.fix


def test_a_weak_certificate_key_fails(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    table, registry = landscape
    checks = examine(clients, with_application(table, certificate(300, key_size=1024)), registry)
    assert failed(checks) == [("certificate-key", "RSA 1024, signed with sha256")]


def test_a_missing_replay_table_is_named(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    stack = boto3.client("cloudformation", region_name="us-east-1").describe_stacks(StackName=STACK)
    table_name = next(o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]
                      if o["OutputKey"] == "ReplayTableName")
    boto3.client("dynamodb", region_name="us-east-1").delete_table(TableName=table_name)
    [(name, detail)] = failed(examine(clients, *landscape))
    assert name == "hub-replay-table" and "503" in detail


def test_an_acs_url_the_hub_does_not_have_is_named(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    table, registry = landscape
    sp = dataclasses.replace(table.service_provider, acs_url="https://acs-url-pending.invalid/prod/saml/acs")
    checks = examine(clients, dataclasses.replace(table, service_provider=sp), registry)
    [(name, _)] = failed(checks)
    assert name == "hub-acs-url"
    assert ACS_URL in next(c.fix for c in checks if c.check == name)


RECONCILE_ROLE = "arn:aws:iam::123456789012:role/studio-broker-ReconcileRole-ABC"


def _hub_with_reconcile_job(spoke_role_name: str) -> None:
    """Replace the hub stack with one that has the reconcile job's output and parameter."""
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")
    cloudformation.delete_stack(StackName=STACK)
    template = json.loads(json.dumps(HUB_TEMPLATE))
    template["Parameters"] = {"ReconcileSpokeRoleName": {"Type": "String"}}
    template["Outputs"]["ReconcileRoleArn"] = {"Value": RECONCILE_ROLE}
    cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template), Parameters=[
        {"ParameterKey": "ReconcileSpokeRoleName", "ParameterValue": spoke_role_name}])


def _reconcile_checks(clients: AwsClients, table: RoutingTable, registry: AccountRegistry,
                      **settings: str) -> dict[str, doctor.Check]:
    registry = dataclasses.replace(registry, settings=dataclasses.replace(registry.settings, **settings))
    return {c.check: c for c in examine(clients, table, registry) if "reconcile" in c.check}


def test_the_reconcile_role_the_spokes_trust_and_its_name_are_the_hubs(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    _hub_with_reconcile_job("StudioBrokerReconcile")
    checks = _reconcile_checks(clients, *landscape, reconcile_role_arn=RECONCILE_ROLE)
    assert {name: c.status for name, c in checks.items()} == {
        "hub-reconcile-role": doctor.OK, "hub-reconcile-role-name": doctor.OK}


def test_a_registry_without_the_reconcile_role_warns_and_a_wrong_one_fails_with_the_fix(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    _hub_with_reconcile_job("TeamStudioReconcile")
    unset = _reconcile_checks(clients, *landscape)["hub-reconcile-role"]
    assert unset.status == doctor.WARN and "surveys no team" in unset.detail
    assert RECONCILE_ROLE in unset.fix and "broker rollout apply" in unset.fix
    checks = _reconcile_checks(clients, *landscape,
                               reconcile_role_arn="arn:aws:iam::123456789012:role/old-reconcile")
    role = checks["hub-reconcile-role"]
    assert role.status == doctor.FAIL and RECONCILE_ROLE in role.fix
    name = checks["hub-reconcile-role-name"]  # the hub was deployed with another name than the registry's
    assert name.status == doctor.FAIL and "TeamStudioReconcile" in name.detail
    assert "hub-parameters" in name.fix


@pytest.mark.parametrize(("digest", "status"), [("ab" * 32, doctor.OK), ("cd" * 32, doctor.FAIL)])
def test_the_deployed_routing_table_is_compared_by_digest(
        clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry], digest: str, status: str,
) -> None:
    options = doctor.DoctorOptions(stack_name=STACK, routing_digest=digest)
    [check] = [c for c in doctor.examine(clients, *landscape, options) if c.check == "hub-routing-table"]
    assert check.status == status
    if status == doctor.FAIL:
        assert "another routing.yaml" in check.detail and "hub-parameters" in check.fix


def test_no_hub_stack_is_named(clients: AwsClients, landscape: tuple[RoutingTable, AccountRegistry]) -> None:
    checks = doctor.examine(clients, *landscape, doctor.DoctorOptions(stack_name="not-deployed"))
    assert ("hub-stack", "does not exist") in failed(checks)


def test_the_command_exits_2_on_a_table_that_does_not_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "routing.yaml").write_text("version: 1\n")
    accounts = Path(__file__).parent.parent.parent / "accounts"
    assert main(["doctor", "--routing", str(tmp_path / "routing.yaml"), "--accounts", str(accounts)]) == 2
    assert "broker routing validate" in capsys.readouterr().err


def test_the_command_reports_and_exits_1_on_a_failure(
        clients: AwsClients, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = Path(__file__).parent.parent.parent
    # The repository's own table and registry, nothing deployed: the hub stack is missing.
    code = main(["doctor", "--routing", str(repo / "routing.yaml"), "--accounts", str(repo / "accounts"),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["status"] == "fail"
    assert {"check": "hub-stack", "subject": "hub stack studio-broker (us-east-1)", "status": "fail",
            "detail": "does not exist",
            "fix": "deploy the hub (docs/deployment.md, 1), or pass --stack-name"} in report["checks"]

