"""``broker audit USER``: one person's profiles in every spoke, and where CloudTrail shows what they did.

A profile is found by its deterministic name (``profile_name_for(user, team)``)
in each team's domain. The names in those domains and in the domains of
accounts/ are listed too: a profile of a team that left the table is the
person's when its name is the broker's name for them in the team it names.
The spokes' sessions name
the person (``broker.spokes``: SourceIdentity and RoleSessionName are
``source_identity(user)``), and Studio's execution-role sessions carry the
profile name as SourceIdentity (the domain's ``ExecutionRoleIdentityConfig``),
so one CloudTrail Lake query over both names lists everything done as the
person; ``aws cloudtrail lookup-events`` can filter only by user name (the
session name), which covers the broker's sessions in each spoke.
"""

from __future__ import annotations

import shlex
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from broker.config import RoutingTable
from broker.profile_name import profile_name_for
from broker.reconcile import NOT_FOUND, DomainIds, SpokeClient
from broker.spokes import source_identity


@dataclass(frozen=True)
class AuditedProfile:
    """One of the person's profiles."""

    team: str
    account_id: str
    region: str
    domain_id: str
    profile: str
    status: str
    created: datetime
    last_modified: datetime
    apps_running: tuple[str, ...]
    spaces: tuple[str, ...]


@dataclass
class Audit:
    """Everything ``broker audit`` shows for one person."""

    user: str
    source_identity: str
    profiles: list[AuditedProfile] = field(default_factory=list)
    without_profile: list[str] = field(default_factory=list)  # teams where the person has none
    problems: list[str] = field(default_factory=list)

    def lake_query(self) -> str:
        """The CloudTrail Lake SQL listing the person's actions in the spokes with a profile."""
        profiles = sorted({p.profile for p in self.profiles})
        names = ", ".join(_quoted(n) for n in [self.source_identity, *profiles])
        accounts = ", ".join(_quoted(a) for a in sorted({p.account_id for p in self.profiles})) or "''"
        return ("SELECT eventTime, recipientAccountId, awsRegion, eventSource, eventName, userIdentity.arn, "
                "sourceIPAddress\nFROM <event-data-store-id>\n"
                f"WHERE (userIdentity.sessionContext.sourceIdentity IN ({names})\n"
                "       OR element_at(requestParameters, 'sourceIdentity') = "
                f"{_quoted(self.source_identity)})\n"
                f"  AND recipientAccountId IN ({accounts})\nORDER BY eventTime")

    def lookup_commands(self) -> list[str]:
        """One ``aws cloudtrail lookup-events`` per spoke account and region (with its credentials)."""
        where = sorted({(p.account_id, p.region) for p in self.profiles})
        value = shlex.quote(f"AttributeKey=Username,AttributeValue={self.source_identity}")
        return [f"# account {account}\n"
                f"aws cloudtrail lookup-events --region {region} --lookup-attributes {value}"
                for account, region in where]

    def as_dict(self) -> dict[str, Any]:
        profiles = []
        for profile in self.profiles:
            data = asdict(profile)
            data["created"] = profile.created.isoformat()
            data["last_modified"] = profile.last_modified.isoformat()
            profiles.append(data)
        return {"user": self.user, "source_identity": self.source_identity, "profiles": profiles,
                "without_profile": self.without_profile, "problems": self.problems,
                "cloudtrail_lake_query": self.lake_query(), "lookup_events": self.lookup_commands()}


def audit(table: RoutingTable, spokes: SpokeClient, user: str) -> Audit:
    """The person's profile in each team's domain, and any profile of theirs for a team that left
    the table, in those domains and in the domains of accounts/ (read-only)."""
    result = Audit(user=user, source_identity=source_identity(user))
    ids = DomainIds(spokes)
    domains: dict[tuple[str, str, str], Any] = {}  # (account, region, domain id) -> its client
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        name = profile_name_for(user, team.id)
        try:
            sagemaker = spokes(team.account_id, team.region)
            domain_id = ids.of(team)
            if domain_id is None:
                result.problems.append(f"team {team.id}: no domain {team.domain} in {team.account_id} "
                                       f"{team.region}")
                continue
            domains[(team.account_id, team.region, domain_id)] = sagemaker
            found = _profile(sagemaker, team.id, team.account_id, team.region, domain_id, name)
        except ClientError as error:
            result.problems.append(f"team {team.id}: {error.operation_name} failed in {team.account_id} "
                                   f"{team.region} ({error.response.get('Error', {}).get('Code')})")
            continue
        if found is None:
            result.without_profile.append(team.id)
        else:
            result.profiles.append(found)
    for deployed in table.deployed_domains:
        try:
            sagemaker = spokes(deployed.account_id, deployed.region)
            domain_id = ids.named(deployed.account_id, deployed.region, deployed.name)
        except ClientError as error:
            result.problems.append(f"domain {deployed.name} (accounts/): {error.operation_name} failed in "
                                   f"{deployed.account_id} {deployed.region} "
                                   f"({error.response.get('Error', {}).get('Code')})")
            continue
        if domain_id is not None:
            domains.setdefault((deployed.account_id, deployed.region, domain_id), sagemaker)
    for (account_id, region, domain_id), sagemaker in sorted(domains.items(), key=lambda item: item[0]):
        try:
            result.profiles += _left_teams_profiles(table, sagemaker, user, account_id, region, domain_id)
        except ClientError as error:
            result.problems.append(f"domain {domain_id}: {error.operation_name} failed in {account_id} "
                                   f"{region} ({error.response.get('Error', {}).get('Code')})")
    return result


def _left_teams_profiles(table: RoutingTable, sagemaker: Any, user: str, account_id: str, region: str,
                         domain_id: str) -> list[AuditedProfile]:
    """The person's profiles in ``domain_id`` for teams the table no longer has: a profile is theirs
    when its name is the broker's name for them in the team its name begins with."""
    pages = sagemaker.get_paginator("list_user_profiles").paginate(DomainIdEquals=domain_id)
    found = []
    for name in sorted(p["UserProfileName"] for page in pages for p in page.get("UserProfiles", [])):
        team_id = name.split("--", 1)[0]
        if table.team(team_id) is not None:
            continue  # a current team's profile: looked up by name above
        try:
            if profile_name_for(user, team_id) != name:
                continue
        except ValueError:
            continue  # not a name the broker makes
        profile = _profile(sagemaker, team_id, account_id, region, domain_id, name)
        if profile is not None:
            found.append(profile)
    return found


def _profile(sagemaker: Any, team_id: str, account_id: str, region: str, domain_id: str,
             name: str) -> AuditedProfile | None:
    """Profile ``name`` with its running apps and the spaces it owns; ``None``: there is none."""
    try:
        described = sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=name)
    except ClientError as error:
        if str(error.response.get("Error", {}).get("Code")) not in NOT_FOUND:
            raise
        return None
    pages = sagemaker.get_paginator("list_spaces").paginate(DomainIdEquals=domain_id)
    spaces = tuple(sorted(
        s["SpaceName"] for page in pages for s in page.get("Spaces", [])
        if s.get("OwnershipSettingsSummary", {}).get("OwnerUserProfileName") == name))
    owners = [{"UserProfileNameEquals": name}] + [{"SpaceNameEquals": s} for s in spaces]
    running = tuple(sorted(
        f"{a.get('SpaceName') + '/' if a.get('SpaceName') else ''}{a['AppType']}/{a['AppName']}"
        for owner in owners
        for page in sagemaker.get_paginator("list_apps").paginate(DomainIdEquals=domain_id, **owner)
        for a in page.get("Apps", []) if a.get("Status") == "InService"))
    return AuditedProfile(
        team=team_id, account_id=account_id, region=region, domain_id=domain_id, profile=name,
        status=str(described.get("Status")), created=described["CreationTime"],
        last_modified=described.get("LastModifiedTime", described["CreationTime"]),
        apps_running=running, spaces=spaces)


def render(result: Audit) -> str:
    """What a person reads: the profiles, the teams without one, then the CloudTrail queries."""
    lines = [f"user {result.user} (SourceIdentity {result.source_identity})"]
    for p in result.profiles:
        lines.append(f"  team {p.team}: {p.profile} in {p.account_id} {p.region} {p.domain_id}, {p.status}, "
                     f"created {p.created:%Y-%m-%d %H:%M}, last modified {p.last_modified:%Y-%m-%d %H:%M}, "
                     f"apps running: {', '.join(p.apps_running) or 'none'}, "
                     f"spaces: {', '.join(p.spaces) or 'none'}")
    if result.without_profile:
        lines.append(f"  no profile in: {', '.join(result.without_profile)}")
    for problem in result.problems:
        lines.append(f"  PROBLEM {problem}")
    lines += ["", "CloudTrail Lake (every action as the person, the broker's and Studio's sessions):",
              result.lake_query()]
    if result.profiles:
        lines += ["", "Event history per spoke (the broker's sessions: AssumeRole, CreateUserProfile, "
                      "CreatePresignedDomainUrl):", *result.lookup_commands()]
    return "\n".join(lines)


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
