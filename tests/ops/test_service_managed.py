"""Service-managed StackSets: accounts targeted through their OU, with per-account overrides."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from broker.aws import AwsClients
from broker.exceptions import ConfigurationError
from broker.ops import rollout
from broker.ops.accounts import load_accounts

from .conftest import BROKER_ROLE, CallLog, account_yaml, routing_of, spoke_session, team

SERVICE_MANAGED = (f'version: 1\nhub: {{broker_role_arn: "{BROKER_ROLE}"}}\n'
                   "permission_model: SERVICE_MANAGED\n"
                   "operation_preferences: {failure_tolerance_percentage: 50}\n")


@pytest.fixture
def organization(clients: AwsClients) -> tuple[str, list[str]]:
    """An OU with three accounts: two spokes and one that is not registered."""
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root_id, Name="studio")["OrganizationalUnit"]["Id"]
    ids = []
    for name in ("spoke-a", "spoke-b", "unrelated"):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        ids.append(status["AccountId"])
        org.move_account(AccountId=status["AccountId"], SourceParentId=root_id, DestinationParentId=ou)
    return ou, ids


def registry_dir(tmp_path: Path, ou: str, accounts: list[str], rollout_yaml: str = SERVICE_MANAGED) -> Path:
    root = tmp_path / "accounts"
    root.mkdir()
    (root / "rollout.yaml").write_text(rollout_yaml)
    for number, account in enumerate(accounts):
        text = account_yaml(account, [("us-east-1", f"studio-{number}")], cidr_base=20 + number)
        (root / f"{account}.yaml").write_text(text.replace("ou-ab12-studio01", ou))
    return root


def test_service_managed_targets_ous_and_deploys_only_registered_accounts(
        clients: AwsClients, tmp_path: Path, organization: tuple[str, list[str]]) -> None:
    ou, (spoke_a, spoke_b, unrelated) = organization
    root = registry_dir(tmp_path, ou, [spoke_a, spoke_b])
    routing = routing_of(team("team1", spoke_a, "us-east-1", "studio-0"),
                         team("team2", spoke_b, "us-east-1", "studio-1"))
    log = CallLog(clients)

    summary = rollout.apply(clients, load_accounts(root), routing, poll_seconds=0)

    assert summary.ok, summary.failed
    assert {r.account for r in summary.results} == {spoke_a, spoke_b}
    creates = [params for name, params in log.calls if name == "CreateStackInstances"]
    assert creates and all("Accounts" not in p for p in creates)
    assert all(p["DeploymentTargets"]["OrganizationalUnitIds"] == [ou]
               and p["DeploymentTargets"]["AccountFilterType"] == "INTERSECTION" for p in creates)
    assert all(p["OperationPreferences"]["FailureTolerancePercentage"] == 50 for p in creates)
    stack_set = next(params for name, params in log.calls if name == "CreateStackSet")
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    # Off unless asked for: StackSets would deploy a joining account with the placeholders.
    assert stack_set["AutoDeployment"] == {"Enabled": False}
    sagemaker = spoke_session(spoke_b, "us-east-1").client("sagemaker")
    assert [d["DomainName"] for d in sagemaker.list_domains()["Domains"]] == ["studio-1"]
    # The OU's third account is not registered: nothing is deployed there.
    other = spoke_session(unrelated, "us-east-1")
    assert other.client("cloudformation").describe_stacks()["Stacks"] == []
    assert not rollout.plan(clients, load_accounts(root), routing).changed


def test_auto_deployment_is_refused_while_parameters_are_set_only_per_instance(tmp_path: Path) -> None:
    root = registry_dir(tmp_path, "ou-ab12-studio01", ["111111111111"],
                        SERVICE_MANAGED + "auto_deployment: true\n")

    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)

    (problem,) = raised.value.problems
    assert problem.startswith(
        f"{root}/rollout.yaml:5:18: auto_deployment: StackSets would deploy an account that joins the OU "
        "with the StackSet-level value '-' for the parameters only instances set "
        "(studio-spoke-network: AvailabilityZone1, AvailabilityZone2; studio-spoke-access: ExternalId, "
        "TeamRoleArns; studio-spoke-domain: DomainName), and delete the stacks of an account that leaves it")


def test_a_stack_set_made_with_auto_deployment_on_is_turned_off(
        clients: AwsClients, tmp_path: Path, organization: tuple[str, list[str]]) -> None:
    ou, (spoke_a, _, _) = organization
    registry = load_accounts(registry_dir(tmp_path, ou, [spoke_a]))
    routing = routing_of(team("team1", spoke_a, "us-east-1", "studio-0"))
    rollout.apply(clients, registry, routing, poll_seconds=0)
    cfn = clients.hub("cloudformation", "us-east-1")
    # As an earlier rollout made it (auto-deployment used to be on by default).
    cfn.update_stack_set(StackSetName="studio-spoke-domain", UsePreviousTemplate=True,
                         AutoDeployment={"Enabled": True, "RetainStacksOnAccountRemoval": False})

    planned = next(s for s in rollout.plan(clients, registry, routing).stack_sets
                   if s.spec.name == "studio-spoke-domain")
    summary = rollout.apply(clients, registry, routing, poll_seconds=0)

    assert planned.stack_set_changes == ("auto-deployment: on -> off",)
    assert summary.ok, summary.failed
    described = cfn.describe_stack_set(StackSetName="studio-spoke-domain")["StackSet"]
    assert described["AutoDeployment"] == {"Enabled": False}
    assert not rollout.plan(clients, registry, routing).changed
