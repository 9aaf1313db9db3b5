"""The local stack's Identity Store: local/users.yaml's people, groups and memberships in the emulator.

``local/users.yaml`` may name, at the top, the Identity Center groups of the
local world and the teams each stands for, and per user the groups they are
in::

    groups:
      studio-team1: [team1]
    users:
      - {id: user1, name: User 1, teams: [team1], groups: [studio-team1]}

:func:`seed` creates them in the emulator's Identity Store (``UserName`` is
the user's id, the value the dev IdP signs), and :func:`add_to_local_routing`
points the local routing table at that store (``user_attribute: userName``)
and gives each team the groups that stand for it, unless routing.yaml already
says. ``broker profiles reconcile`` and the team picker then read membership
from the local stack as they would from IAM Identity Center.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from broker.config import RoutingTable
from broker.exceptions import ConfigurationError

# The local Identity Center account is the hub's own (the emulator lets it assume its reader role).
STORE_ID = "d-0000000000"
STORE_REGION = "us-east-1"
READER_ROLE_ARN = "arn:aws:iam::123456789012:role/StudioBrokerIdentityStoreReader"
EXTERNAL_ID = "studio-broker-local"


@dataclass(frozen=True)
class Directory:
    """People and groups of the local Identity Store."""

    groups: Mapping[str, tuple[str, ...]]  # group display name -> the teams it stands for
    members: Mapping[str, tuple[str, ...]]  # user id -> group display names
    names: Mapping[str, str]  # user id -> display name

    def groups_of_team(self, team_id: str) -> list[str]:
        return sorted(group for group, teams in self.groups.items() if team_id in teams)


def load_directory(path: str | Path, team_ids: Iterable[str]) -> Directory | None:
    """The groups of ``path`` (local/users.yaml); ``None`` when it names none."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    groups = data.get("groups") if isinstance(data, dict) else None
    if not groups:
        return None
    known, problems = set(team_ids), []
    if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
        raise ConfigurationError([f"{path}: groups: expected a mapping of group name to a list of team ids"])
    for group, teams in groups.items():
        unknown = sorted(set(teams) - known)
        if unknown:
            problems.append(f"{path}: groups.{group}: unknown team(s) {unknown}; routing has {sorted(known)}")
    members: dict[str, tuple[str, ...]] = {}
    names: dict[str, str] = {}
    for index, user in enumerate(data.get("users") or []):
        if not isinstance(user, dict) or "id" not in user:
            continue  # load_users reports it
        mine = tuple(user.get("groups") or ())
        unknown = sorted(set(mine) - set(groups))
        if unknown:
            problems.append(f"{path}: users[{index}].groups: unknown group(s) {unknown}")
        members[str(user["id"])] = mine
        names[str(user["id"])] = str(user.get("name") or user["id"])
    if problems:
        raise ConfigurationError(problems)
    return Directory({g: tuple(t) for g, t in groups.items()}, members, names)


# The one "SageMaker Studio" application of the local portal (teams_from: membership).
STUDIO_APPLICATION = "sagemaker-studio"
STUDIO_ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/TG9jYWxTYWdlTWFrZXJTdHVkaW8"


def add_to_local_routing(routing_file: Path, directory: Directory,
                         studio_certificate: str | None = None) -> RoutingTable:
    """Rewrite the local routing table with the local store and each team's groups; compile and
    load it as the broker does. With ``studio_certificate`` (the dev IdP's), the table also
    gets the one application routed by membership, :data:`STUDIO_APPLICATION`."""
    from broker.local.devidp import compile_local_routing

    text = routing_file.read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    data: dict[str, Any] = yaml.safe_load(text)
    data.setdefault("identity_store", {"id": STORE_ID, "region": STORE_REGION, "role_arn": READER_ROLE_ARN,
                                       "external_id": EXTERNAL_ID, "user_attribute": "userName"})
    for team in data["teams"]:
        groups = directory.groups_of_team(team["id"])
        if groups and not team.get("groups"):
            team["groups"] = groups
    if studio_certificate and not any(a.get("teams_from") == "membership" for a in data["applications"]):
        data["applications"].append({"name": STUDIO_APPLICATION, "issuer": STUDIO_ISSUER,
                                     "certificates": [studio_certificate], "teams_from": "membership"})
    routing_file.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return compile_local_routing(routing_file)


def seed(directory: Directory, routing: RoutingTable, session: Any) -> dict[str, str]:
    """Create the users, groups and memberships in the store ``routing`` names; user id -> UserId.

    ``session`` is a boto3 session of the emulator; the store's account is the reader role's.
    """
    store = routing.identity_store
    if store is None:
        raise ValueError("the local routing table names no identity_store")
    issued = session.client("sts", region_name=store.region).assume_role(
        RoleArn=store.role_arn, RoleSessionName="local-stack-seed",
        ExternalId=store.external_id)["Credentials"]
    ids = session.client("identitystore", region_name=store.region, aws_access_key_id=issued["AccessKeyId"],
                         aws_secret_access_key=issued["SecretAccessKey"],
                         aws_session_token=issued["SessionToken"])
    group_ids = {name: ids.create_group(IdentityStoreId=store.identity_store_id, DisplayName=name)["GroupId"]
                 for name in sorted(directory.groups)}
    user_ids: dict[str, str] = {}
    for user, groups in directory.members.items():
        given, _, family = directory.names[user].partition(" ")
        user_ids[user] = ids.create_user(
            IdentityStoreId=store.identity_store_id, UserName=user, DisplayName=directory.names[user],
            Name={"GivenName": given, "FamilyName": family or given},
            Emails=[{"Value": f"{user}@example.com", "Type": "work", "Primary": True}])["UserId"]
        for group in groups:
            ids.create_group_membership(IdentityStoreId=store.identity_store_id, GroupId=group_ids[group],
                                        MemberId={"UserId": user_ids[user]})
    return user_ids
