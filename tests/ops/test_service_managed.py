"""Service-managed StackSets: accounts targeted through their OU, with per-account overrides."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import boto3

from broker.aws import AwsClients
from broker.ops import rollout
from broker.ops.accounts import load_accounts

from .conftest import BROKER_ROLE, CallLog, account_yaml, routing_of, spoke_session, team


def test_service_managed_targets_ous_and_deploys_only_registered_accounts(
        clients: AwsClients, tmp_path: Path, accounts_dir: Callable[..., Path]) -> None:
    org = boto3.client("organizations", region_name="us-east-1")
    org.create_organization(FeatureSet="ALL")
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root_id, Name="studio")["OrganizationalUnit"]["Id"]
    ids = []
    for name in ("spoke-a", "spoke-b", "unrelated"):
        status = org.create_account(Email=f"{name}@example.com", AccountName=name)["CreateAccountStatus"]
        ids.append(status["AccountId"])
        org.move_account(AccountId=status["AccountId"], SourceParentId=root_id, DestinationParentId=ou)
    spoke_a, spoke_b, unrelated = ids
    root = tmp_path / "accounts"
    root.mkdir()
    (root / "rollout.yaml").write_text(
        f'version: 1\nhub: {{broker_role_arn: "{BROKER_ROLE}"}}\npermission_model: SERVICE_MANAGED\n'
        "auto_deployment: true\noperation_preferences: {failure_tolerance_percentage: 50}\n")
    for number, account in enumerate((spoke_a, spoke_b)):
        text = account_yaml(account, [("us-east-1", f"studio-{number}")], cidr_base=20 + number)
        (root / f"{account}.yaml").write_text(text.replace("ou-ab12-studio01", ou))
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
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    sagemaker = spoke_session(spoke_b, "us-east-1").client("sagemaker")
    assert [d["DomainName"] for d in sagemaker.list_domains()["Domains"]] == ["studio-1"]
    # The OU's third account is not registered: nothing is deployed there.
    other = spoke_session(unrelated, "us-east-1")
    assert other.client("cloudformation").describe_stacks()["Stacks"] == []
    assert not rollout.plan(clients, load_accounts(root), routing).changed
