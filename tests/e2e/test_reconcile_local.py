"""``broker profiles reconcile`` on the local stack: real sign-ins make the profiles, then people leave."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from broker.cli import main
from broker.local.demo import sign_in
from broker.local.devidp import LOCAL_ROUTING_NAME
from broker.local.identity_store import STORE_ID
from broker.local.stack import LocalStack


def reconcile(stack: LocalStack, *args: str) -> list[str]:
    return ["profiles", "reconcile", "--routing", str(Path(stack.options.state_dir) / LOCAL_ROUTING_NAME),
            "--aws-endpoint", stack.emulator_url, "--poll-seconds", "0.1", *args]


def store_admin(stack: LocalStack) -> Any:
    store = stack.routing.identity_store if stack.routing else None
    assert store is not None and store.identity_store_id == STORE_ID
    issued = boto3.client("sts", region_name=store.region).assume_role(
        RoleArn=store.role_arn, RoleSessionName="test", ExternalId=store.external_id)["Credentials"]
    return boto3.client("identitystore", region_name=store.region, aws_access_key_id=issued["AccessKeyId"],
                        aws_secret_access_key=issued["SecretAccessKey"],
                        aws_session_token=issued["SessionToken"])


def spoke_sagemaker(account_id: str, region: str) -> Any:
    issued = boto3.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="test")["Credentials"]
    return boto3.client("sagemaker", region_name=region, aws_access_key_id=issued["AccessKeyId"],
                        aws_secret_access_key=issued["SecretAccessKey"],
                        aws_session_token=issued["SessionToken"])


def user_id(ids: Any, name: str) -> str:
    return str(ids.get_user_id(IdentityStoreId=STORE_ID, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": name}})["UserId"])


def test_people_who_left_lose_their_profiles_and_nobody_else(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    for user, team in (("user1", "team1"), ("user1", "team2"), ("user2", "team2")):
        assert sign_in(stack.base_url, user, team).landed, (user, team)
    capsys.readouterr()  # the broker's own log and metric lines
    spoke = next(s for s in stack.spokes if s.team_id == "team2")
    sagemaker = spoke_sagemaker(spoke.account_id, spoke.region)
    user2 = "team2--user2"
    sagemaker.create_app(DomainId=spoke.domain_id, UserProfileName=user2, AppType="JupyterServer",
                         AppName="default")
    sagemaker.create_space(DomainId=spoke.domain_id, SpaceName="user2-notebooks",
                           OwnershipSettings={"OwnerUserProfileName": user2},
                           SpaceSharingSettings={"SharingType": "Private"})
    sagemaker.create_app(DomainId=spoke.domain_id, SpaceName="user2-notebooks", AppType="JupyterLab",
                         AppName="default")
    sagemaker.create_user_profile(DomainId=spoke.domain_id, UserProfileName="made-by-hand")
    assert main(reconcile(stack, "--json")) == 0
    before = json.loads(capsys.readouterr().out)
    assert (before["counts"], before["orphans"]) == ({"live": 3, "foreign": 1}, 0)

    ids = store_admin(stack)
    team2 = ids.get_group_id(IdentityStoreId=STORE_ID, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "displayName", "AttributeValue": "studio-team2"}})["GroupId"]
    membership = ids.get_group_membership_id(IdentityStoreId=STORE_ID, GroupId=team2,
                                             MemberId={"UserId": user_id(ids, "user1")})["MembershipId"]
    ids.delete_group_membership(IdentityStoreId=STORE_ID, MembershipId=membership)  # user1 leaves team2
    ids.delete_user(IdentityStoreId=STORE_ID, UserId=user_id(ids, "user2"))  # user2 leaves the company

    assert main(reconcile(stack)) == 0
    dry = capsys.readouterr().out
    with capsys.disabled():
        print(dry)  # shown with -s: a sample run
    assert "dry run: nothing was changed; --apply deletes the 2 orphans" in dry
    assert main(reconcile(stack, "--apply")) == 0
    applied = capsys.readouterr()
    with capsys.disabled():
        print(applied.err, applied.out)
    assert "applied: 2 of 2 orphans deleted" in applied.out
    assert main(reconcile(stack, "--apply", "--json")) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["counts"], after["orphans"]) == ({"live": 1, "foreign": 1}, 0)
    assert [p["user"] for p in after["profiles"] if p["verdict"] == "live"] == ["user1"]
