"""A spoke world for offboarding tests: the sample routing.yaml with groups, its two domains in the
emulator, an Identity Store in the Identity Center account, and profiles live, orphaned and foreign."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from broker.aws import AwsClients
from broker.config import RoutingTable
from broker.ops.routing_source import parse_routing_table
from broker.profile_name import profile_name_for

from .conftest import ROLLOUT_YAML, account_yaml

REPO = Path(__file__).resolve().parent.parent.parent
STORE = "d-9999999999"
READER = "arn:aws:iam::999999999999:role/StudioBrokerIdentityStoreReader"
SPOKE_ROLE = "OrganizationAccountAccessRole"
TEAM1 = ("111111111111", "us-east-1", "d-team1studio")
TEAM2 = ("222222222222", "eu-west-1", "d-team2studio")
DELETING = frozenset({"DeleteApp", "DeleteSpace", "DeleteUserProfile"})


def routing_text(groups: bool = True) -> str:
    """The repository's routing.yaml, each team bound to its group, with the Identity Store."""
    text = (REPO / "routing.yaml").read_text(encoding="utf-8")
    if not groups:
        return text
    landing = "    landing_uri: \"studio::\""
    text = text.replace(landing, f"    groups: [team1-members]\n{landing}", 1)
    text = text.replace("    session_expiration_seconds: 28800", "    groups: [team2-members]\n"
                        "    session_expiration_seconds: 28800", 1)
    return text + (f"\nidentity_store: {{id: {STORE}, region: us-east-1, role_arn: '{READER}', "
                   "external_id: studio-broker-ids-test}\n")


def routing(groups: bool = True) -> RoutingTable:
    return parse_routing_table(routing_text(groups), "routing.yaml", check_expiry=False)


def assumed(role_arn: str, service: str, region: str) -> Any:
    issued = boto3.client("sts", region_name=region).assume_role(
        RoleArn=role_arn, RoleSessionName="test-setup")["Credentials"]
    return boto3.client(service, region_name=region, aws_access_key_id=issued["AccessKeyId"],
                        aws_secret_access_key=issued["SecretAccessKey"],
                        aws_session_token=issued["SessionToken"])


def sagemaker_in(where: tuple[str, str, str]) -> Any:
    return assumed(f"arn:aws:iam::{where[0]}:role/{SPOKE_ROLE}", "sagemaker", where[1])


class Calls:
    """Operations made through one AwsClients, in order."""

    def __init__(self, clients: AwsClients) -> None:
        self.made: list[tuple[str, dict[str, Any]]] = []
        clients.register("provide-client-params", self._record)

    def _record(self, event_name: str, params: dict[str, Any], **_: Any) -> None:
        self.made.append((event_name.rsplit(".", 1)[1], dict(params)))

    def deleting(self) -> list[tuple[str, str]]:
        """(operation, what) of every delete, in order."""
        return [(name, params.get("AppName") and f"{params.get('SpaceName') or params.get('UserProfileName')}"
                 f"/{params['AppType']}" or params.get("SpaceName") or params.get("UserProfileName", ""))
                for name, params in self.made if name in DELETING]

    def clear(self) -> None:
        self.made.clear()


@dataclass
class World:
    """Who is who in the emulator (user ids by name) and which profile is which."""

    users: dict[str, str]
    profiles: dict[str, tuple[tuple[str, str, str], str]]  # label -> (domain, profile name)

    def names_in(self, where: tuple[str, str, str]) -> list[str]:
        pages = sagemaker_in(where).get_paginator("list_user_profiles").paginate(DomainIdEquals=where[2])
        return sorted(p["UserProfileName"] for page in pages for p in page["UserProfiles"])


def build_world() -> World:
    """alice in team1-members (live in team1, orphan in team2: not in its group); bob deleted from the
    store (orphan in team1, with an app and a space with its own app); a profile of a team that left
    the table; two foreign profiles (no tags; tags that do not name the profile)."""
    ids = assumed(READER, "identitystore", "us-east-1")
    users = {}
    for name in ("alice", "bob"):
        users[name] = ids.create_user(
            IdentityStoreId=STORE, UserName=name, DisplayName=name.title(),
            Name={"GivenName": name.title(), "FamilyName": "Test"},
            Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    team1_group = ids.create_group(IdentityStoreId=STORE, DisplayName="team1-members")["GroupId"]
    ids.create_group(IdentityStoreId=STORE, DisplayName="team2-members")
    for name in ("alice", "bob"):
        ids.create_group_membership(IdentityStoreId=STORE, GroupId=team1_group,
                                    MemberId={"UserId": users[name]})

    for where in (TEAM1, TEAM2):
        sagemaker_in(where).create_domain(
            DomainName=where[2].removeprefix("d-"), AuthMode="IAM", SubnetIds=["subnet-1"], VpcId="vpc-1",
            DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{where[0]}:role/execution"})
    profiles: dict[str, tuple[tuple[str, str, str], str]] = {}

    def profile(label: str, where: tuple[str, str, str], name: str, tags: dict[str, str]) -> Any:
        sm = sagemaker_in(where)
        sm.create_user_profile(DomainId=where[2], UserProfileName=name,
                               Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        profiles[label] = (where, name)
        return sm

    alice, bob = users["alice"], users["bob"]
    live = profile("live", TEAM1, profile_name_for(alice, "team1"), {"Team": "team1", "User": alice})
    live.create_app(DomainId=TEAM1[2], UserProfileName=profile_name_for(alice, "team1"),
                    AppType="JupyterServer", AppName="default")
    gone = profile("person_gone", TEAM1, profile_name_for(bob, "team1"), {"Team": "team1", "User": bob})
    bobs = profile_name_for(bob, "team1")
    gone.create_app(DomainId=TEAM1[2], UserProfileName=bobs, AppType="JupyterServer", AppName="default")
    gone.create_space(DomainId=TEAM1[2], SpaceName="bob-space",
                      OwnershipSettings={"OwnerUserProfileName": bobs},
                      SpaceSharingSettings={"SharingType": "Private"})
    gone.create_app(DomainId=TEAM1[2], SpaceName="bob-space", AppType="JupyterLab", AppName="default")
    profile("not_in_team_groups", TEAM2, profile_name_for(alice, "team2"), {"Team": "team2", "User": alice})
    profile("team_not_in_table", TEAM1, profile_name_for(alice, "old"), {"Team": "old", "User": alice})
    profile("foreign_untagged", TEAM1, "made-by-hand", {"Owner": "someone"})
    profile("foreign_mismatch", TEAM1, "team1--impostor", {"Team": "team1", "User": alice})
    ids.delete_user(IdentityStoreId=STORE, UserId=bob)
    return World(users, profiles)


FORMER = ("222222222222", "eu-central-1")  # a domain of accounts/ that no team routes to any more


def former_domain(world: World) -> tuple[str, str, str]:
    """The domain a team called 'gone' left behind, with one profile the broker made for alice."""
    sagemaker = assumed(f"arn:aws:iam::{FORMER[0]}:role/{SPOKE_ROLE}", "sagemaker", FORMER[1])
    arn = sagemaker.create_domain(
        DomainName="formerstudio", AuthMode="IAM", SubnetIds=["subnet-1"], VpcId="vpc-1",
        DefaultUserSettings={"ExecutionRole": f"arn:aws:iam::{FORMER[0]}:role/execution"})["DomainArn"]
    where = (*FORMER, arn.rsplit("/", 1)[1])
    name = profile_name_for(world.users["alice"], "gone")
    sagemaker.create_user_profile(DomainId=where[2], UserProfileName=name, Tags=[
        {"Key": "Team", "Value": "gone"}, {"Key": "User", "Value": world.users["alice"]}])
    return where


def write_registry(directory: Path) -> Path:
    """An account registry with the teams' domains, the former one, and one not rolled out yet."""
    directory.mkdir()
    (directory / "rollout.yaml").write_text(ROLLOUT_YAML)
    (directory / "111111111111.yaml").write_text(account_yaml("111111111111", [("us-east-1", "team1studio")]))
    (directory / "222222222222.yaml").write_text(account_yaml(
        "222222222222", [("eu-west-1", "team2studio"), (FORMER[1], "formerstudio"), ("us-west-2", "notyet")],
        cidr_base=30))
    return directory
