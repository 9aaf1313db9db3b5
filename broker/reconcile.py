"""Offboarding: find the user profiles nobody should have any more, and remove them in order.

:func:`survey` lists every user profile in every spoke domain of the routing
table, and in every domain of the account registry that no team routes to any
more (``RoutingTable.deployed_domains``: a team that left the table left its
profiles there), with the apps and spaces of each, and judges it by the
``Team`` and ``User`` tags the broker set when it made the profile:

- ``orphan`` (action ``delete``): the team left the table (``team_not_in_table``),
  the person is no longer in the Identity Store (``person_gone``), or no longer
  in any of the team's groups (``not_in_team_groups``);
- ``foreign`` (action ``keep``, never deleted): no Team/User tags, or tags that
  do not name this profile (the broker's deterministic name), so someone else made it;
- ``review`` (``keep``): the broker made it but cannot judge it (a ``User`` tag
  in hashed form cannot be turned back into a user id; the team routes to
  another domain now);
- ``live`` (``keep``): everything else; ``deleting``: already being deleted.

Every person is looked up before anything is deleted, so an Identity Store
that fails stops the run with nothing changed. :func:`apply` then removes the
orphans in the order SageMaker requires (the Developer Guide, "Remove user
profiles"): delete every InService app of the profile and of the spaces it
owns, wait until each is Deleted (or Failed), delete those spaces and wait
until they are gone, then delete the profile. Deleting a profile does not
delete the person's home directory on the domain's EFS volume (SageMaker keeps
it; the domain's RetentionPolicy governs the volume when the domain itself is
deleted). Running it again changes nothing: every step treats "already gone" as done.

The scheduled job (:func:`lambda_handler`) runs the survey (and ``apply`` only
when ``BROKER_RECONCILE_APPLY=true``) and publishes ``ReconcileOrphans``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from broker.arns import role_arn, user_profile_arn
from broker.aws import AwsClients, session_credentials
from broker.config import RoutingTable, Team
from broker.exceptions import IdentityStoreRefused
from broker.membership import MembershipResolver
from broker.profile_name import profile_name_for
from broker.spokes import HASH_MARKER

TEAM_TAG, USER_TAG = "Team", "User"
SESSION_NAME = "studio-broker-reconcile"
APP_DONE = frozenset({"Deleted", "Failed"})  # blocks nothing (a Failed app need not be deleted)
NOT_FOUND = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
DEFAULT_MAX = 5
HOME_DIRECTORIES = ("home directories are kept: deleting a profile does not delete its home directory on "
                    "the domain's EFS volume (the domain's RetentionPolicy decides only when the domain "
                    "is deleted)")
Progress = Callable[[str], None]


class TooManyOrphans(Exception):
    """More orphans than ``--max``: nothing was deleted."""

    def __init__(self, found: int, allowed: int) -> None:
        super().__init__(f"{found} profiles would be deleted, more than the allowed {allowed}")
        self.found, self.allowed = found, allowed


@dataclass(frozen=True)
class App:
    """An app of a profile, or of a space the profile owns."""

    app_type: str
    app_name: str
    status: str
    space: str | None = None  # None: the profile's own app


@dataclass(frozen=True)
class Finding:
    """One user profile, who it belongs to, and what reconcile does with it."""

    account_id: str
    region: str
    domain_id: str
    profile: str
    status: str
    created: datetime
    last_modified: datetime
    team: str | None
    user: str | None
    verdict: str
    reason: str
    action: str
    apps: tuple[App, ...] = ()
    spaces: tuple[str, ...] = ()

    def age_days(self, now: datetime) -> int:
        return (now - self.created).days

    def as_dict(self, now: datetime) -> dict[str, Any]:
        data = asdict(self)
        data["created"], data["last_modified"] = self.created.isoformat(), self.last_modified.isoformat()
        data["age_days"] = self.age_days(now)
        return data


@dataclass
class Report:
    """A survey, and after :func:`apply` what was done; ``problems``: spokes that could not be read."""

    findings: list[Finding] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    applied: bool = False

    @property
    def orphans(self) -> list[Finding]:
        return [f for f in self.findings if f.verdict == "orphan"]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for finding in self.findings:
            counts[finding.verdict] = counts.get(finding.verdict, 0) + 1
        return counts

    def as_dict(self, now: datetime) -> dict[str, Any]:
        return {"mode": "apply" if self.applied else "dry-run", "counts": self.counts(),
                "orphans": len(self.orphans), "problems": self.problems,
                "home_directories": HOME_DIRECTORIES,
                "profiles": [f.as_dict(now) for f in self.findings]}


@dataclass(frozen=True)
class Domain:
    """One spoke domain surveyed, and the teams routed there (none: a domain of accounts/ that
    no team routes to any more, where every profile the broker made is a left team's)."""

    account_id: str
    region: str
    domain_id: str
    teams: tuple[str, ...]


SpokeClient = Callable[[str, str], Any]  # (account, region) -> SageMaker client in that spoke


def spoke_external_ids(table: RoutingTable) -> dict[str, str]:
    """Each spoke account's ExternalId (routing.yaml spoke_access): the spoke reconcile role requires it.
    An account of accounts/ without a team gets the table's default."""
    default = table.spoke_access.external_id
    ids = {domain.account_id: default for domain in table.deployed_domains if default}
    return ids | {team.account_id: team.spoke_access.external_id
                  for team in sorted(table.teams.values(), key=lambda t: t.id)}


def spoke_role_clients(clients: AwsClients, role_name: str,
                       external_ids: Mapping[str, str] | None = None) -> SpokeClient:
    """SageMaker clients in each spoke, as ``role_name`` there (assumed once per account and region).

    ``external_ids`` (account -> ExternalId) is sent where given: the rollout's
    reconcile role (stacksets/broker-access.yaml) refuses an AssumeRole without
    it; a role whose trust policy does not ask for one ignores it.
    """
    made: dict[tuple[str, str], Any] = {}

    def client(account_id: str, region: str) -> Any:
        if (account_id, region) not in made:
            external = (external_ids or {}).get(account_id)
            issued = clients.hub("sts", region).assume_role(
                RoleArn=role_arn(region, account_id, role_name),
                RoleSessionName=SESSION_NAME,
                **({"ExternalId": external} if external else {}))["Credentials"]
            made[(account_id, region)] = clients.acting("sagemaker", region, session_credentials(
                issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]))
        return made[(account_id, region)]

    return client


# --- the survey --------------------------------------------------------------------------------


def survey(table: RoutingTable, spokes: SpokeClient, members: MembershipResolver | None,
           progress: Progress = lambda _: None) -> Report:
    """Every profile of every domain of the table (routed, and of accounts/), judged; raises
    IdentityStoreUnavailable before anything could be deleted."""
    report = Report()
    for domain in domains_of(table, spokes, report.problems, progress):
        routed = f"teams {', '.join(domain.teams)}" if domain.teams else "no team routes here any more"
        progress(f"surveying {domain.account_id} {domain.region} {domain.domain_id} ({routed})")
        try:
            found = list(_survey_domain(table, spokes(domain.account_id, domain.region), domain, members))
        except ClientError as error:
            report.problems.append(f"{domain.account_id} {domain.region} {domain.domain_id}: "
                                   f"{error.operation_name} failed ({_code(error)})")
            continue
        progress(f"  {len(found)} profiles, {sum(f.verdict == 'orphan' for f in found)} orphaned")
        report.findings += found
    return report


def domains_of(table: RoutingTable, spokes: SpokeClient, problems: list[str],
               progress: Progress = lambda _: None) -> list[Domain]:
    """The distinct domains the table's teams route to (domain names resolved in their spoke),
    and every domain of the account registry (``table.deployed_domains``) that exists."""
    ids = DomainIds(spokes)
    teams_at: dict[tuple[str, str, str], list[str]] = {}
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        try:
            domain_id = ids.of(team)
        except ClientError as error:
            problems.append(f"team {team.id}: {error.operation_name} failed in {team.account_id} "
                            f"{team.region} ({_code(error)})")
            continue
        if domain_id is None:
            problems.append(f"team {team.id}: no domain {team.domain} in {team.account_id} {team.region}")
            continue
        teams_at.setdefault((team.account_id, team.region, domain_id), []).append(team.id)
    for deployed in table.deployed_domains:
        where = f"{deployed.account_id} {deployed.region}"
        try:
            domain_id = ids.named(deployed.account_id, deployed.region, deployed.name)
        except ClientError as error:
            problems.append(f"domain {deployed.name} (accounts/): {error.operation_name} failed in "
                            f"{where} ({_code(error)})")
            continue
        if domain_id is None:
            progress(f"domain {deployed.name} (accounts/) is not in {where}: not surveyed")
            continue
        teams_at.setdefault((deployed.account_id, deployed.region, domain_id), [])
    return [Domain(a, r, d, tuple(t)) for (a, r, d), t in sorted(teams_at.items())]


class DomainIds:
    """Spoke domain ids by name, listed once per account and region (teams of one spoke and the
    registry's domains there share one ListDomains)."""

    def __init__(self, spokes: SpokeClient) -> None:
        self._spokes = spokes
        self._named: dict[tuple[str, str], dict[str, str]] = {}

    def named(self, account_id: str, region: str, name: str) -> str | None:
        """The id of the domain called ``name`` in that spoke; None: there is none."""
        key = (account_id, region)
        if key not in self._named:  # a failed listing raises and is not remembered
            sagemaker = self._spokes(account_id, region)
            pages = sagemaker.get_paginator("list_domains").paginate()
            self._named[key] = {str(d["DomainName"]): str(d["DomainId"])
                                for page in pages for d in page.get("Domains", [])}
        return self._named[key].get(name)

    def of(self, team: Team) -> str | None:
        """The team's domain id (a domain given by name is looked up in its spoke); None: not there."""
        return team.domain.domain_id or self.named(team.account_id, team.region, team.domain.name or "")


def _survey_domain(table: RoutingTable, sagemaker: Any, domain: Domain,
                   members: MembershipResolver | None) -> Iterable[Finding]:
    profiles = [p for page in sagemaker.get_paginator("list_user_profiles").paginate(
        DomainIdEquals=domain.domain_id) for p in page.get("UserProfiles", [])]
    spaces_of: dict[str, list[str]] = {}
    for page in sagemaker.get_paginator("list_spaces").paginate(DomainIdEquals=domain.domain_id):
        for space in page.get("Spaces", []):
            owner = space.get("OwnershipSettingsSummary", {}).get("OwnerUserProfileName")
            if owner:
                spaces_of.setdefault(owner, []).append(space["SpaceName"])
    apps = [a for page in sagemaker.get_paginator("list_apps").paginate(DomainIdEquals=domain.domain_id)
            for a in page.get("Apps", [])]
    for summary in sorted(profiles, key=lambda p: p["UserProfileName"]):
        name = summary["UserProfileName"]
        arn = user_profile_arn(domain.region, domain.account_id, domain.domain_id, name)
        tag_pages = sagemaker.get_paginator("list_tags").paginate(ResourceArn=arn)
        tags = {t["Key"]: t["Value"] for page in tag_pages for t in page.get("Tags", [])}
        spaces = tuple(sorted(spaces_of.get(name, [])))
        owned = [App(a["AppType"], a["AppName"], a["Status"], a.get("SpaceName")) for a in apps
                 if a.get("UserProfileName") == name or a.get("SpaceName") in spaces]
        verdict, reason = judge(table, domain, name, tags, members)
        if summary.get("Status") == "Deleting":
            verdict, reason = "deleting", "already being deleted"
        yield Finding(
            account_id=domain.account_id, region=domain.region, domain_id=domain.domain_id, profile=name,
            status=str(summary.get("Status")), created=summary["CreationTime"],
            last_modified=summary.get("LastModifiedTime", summary["CreationTime"]),
            team=tags.get(TEAM_TAG), user=tags.get(USER_TAG), verdict=verdict, reason=reason,
            action="delete" if verdict == "orphan" else "keep",
            apps=tuple(sorted(owned, key=lambda a: (a.space or "", a.app_type, a.app_name))), spaces=spaces)


def judge(table: RoutingTable, domain: Domain, name: str, tags: dict[str, str],
          members: MembershipResolver | None) -> tuple[str, str]:
    """(verdict, reason) of one profile from its tags, the table and the Identity Store."""
    team_id, user = tags.get(TEAM_TAG), tags.get(USER_TAG)
    if not team_id or not user:
        return "foreign", "no Team/User tags: not made by the broker"
    if HASH_MARKER in user:
        return "review", "the User tag is a hashed user id: the person cannot be looked up"
    try:
        expected = profile_name_for(user, team_id)
    except ValueError:
        expected = None
    if expected != name:
        return "foreign", "its Team/User tags do not name this profile: not made by the broker"
    team = table.team(team_id)
    if team is None:
        return "orphan", "team_not_in_table"
    if team.id not in domain.teams:
        return "review", f"team {team.id} now routes to another domain"
    if members is None:
        return "live", "team in the table (no identity_store: people not checked)"
    try:
        membership = members.membership(user)
    except IdentityStoreRefused as refused:
        if refused.code != "ValidationException":
            raise  # denied: the whole run stops, nothing deleted
        return "review", f"the Identity Store refuses {user!r} as a user id ({refused.code})"
    if not membership.exists:
        return "orphan", "person_gone"
    if team.groups and not membership.is_member_of(team):
        return "orphan", "not_in_team_groups"
    return "live", "member" if team.groups else "person exists (the team names no groups)"


# --- apply -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Waiting:
    """How long to wait for apps and spaces to go, and how often to look."""

    poll_seconds: float = 5.0
    timeout_seconds: float = 900.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


def apply(report: Report, spokes: SpokeClient, max_deletions: int, progress: Progress = lambda _: None,
          waiting: Waiting = Waiting()) -> Report:
    """Delete the report's orphans in SageMaker's order; raises TooManyOrphans (nothing deleted)."""
    orphans = report.orphans
    if len(orphans) > max_deletions:
        raise TooManyOrphans(len(orphans), max_deletions)
    done: dict[int, Finding] = {}
    for number, finding in enumerate(orphans, 1):
        where = f"[{number}/{len(orphans)}] {finding.profile} ({finding.account_id} {finding.region} " \
                f"{finding.domain_id})"
        try:
            _remove(spokes(finding.account_id, finding.region), finding, lambda line, w=where: progress(
                f"{w}: {line}"), waiting)
            done[id(finding)] = replace(finding, action="deleted")
        except (ClientError, TimeoutError) as error:
            why = f"{error.operation_name}: {_code(error)}" if isinstance(error, ClientError) else str(error)
            progress(f"{where}: failed ({why})")
            done[id(finding)] = replace(finding, action=f"failed ({why})")
    report.findings = [done.get(id(f), f) for f in report.findings]
    report.applied = True
    return report


def _remove(sagemaker: Any, finding: Finding, progress: Progress, waiting: Waiting) -> None:
    domain, name = finding.domain_id, finding.profile
    deadline = waiting.clock() + waiting.timeout_seconds
    while True:  # 1. apps: delete the InService ones, wait for the rest to end Deleted (or Failed)
        apps = _apps(sagemaker, domain, name, finding.spaces)
        for app in (a for a in apps if a.status == "InService"):
            progress(f"deleting app {app.space + '/' if app.space else ''}{app.app_type}/{app.app_name}")
            owner = {"SpaceName": app.space} if app.space else {"UserProfileName": name}
            try:
                _gone_is_fine(lambda a=app, o=owner: sagemaker.delete_app(
                    DomainId=domain, AppType=a.app_type, AppName=a.app_name, **o))
            except ClientError as error:
                if _code(error) != "ResourceInUse":  # it left InService meanwhile: looked at again below
                    raise
        if all(a.status in APP_DONE for a in apps):
            break
        _wait(waiting, deadline, f"apps of {name} still {sorted({a.status for a in apps} - APP_DONE)}")
    for space in finding.spaces:  # 2. the spaces it owns
        progress(f"deleting space {space}")
        _gone_is_fine(lambda s=space: sagemaker.delete_space(DomainId=domain, SpaceName=s))
    while any(_exists(lambda s=space: sagemaker.describe_space(DomainId=domain, SpaceName=s))
              for space in finding.spaces):
        _wait(waiting, deadline, f"spaces of {name} still being deleted")
    progress("deleting the user profile (its EFS home directory is kept)")  # 3. the profile
    _gone_is_fine(lambda: sagemaker.delete_user_profile(DomainId=domain, UserProfileName=name))


def _apps(sagemaker: Any, domain: str, profile: str, spaces: Iterable[str]) -> list[App]:
    owners = [{"UserProfileNameEquals": profile}] + [{"SpaceNameEquals": s} for s in spaces]
    return [App(a["AppType"], a["AppName"], a["Status"], a.get("SpaceName"))
            for owner in owners
            for page in sagemaker.get_paginator("list_apps").paginate(DomainIdEquals=domain, **owner)
            for a in page.get("Apps", [])]


def _wait(waiting: Waiting, deadline: float, what: str) -> None:
    if waiting.clock() + waiting.poll_seconds > deadline:
        raise TimeoutError(f"gave up after {waiting.timeout_seconds:.0f} s: {what}")
    waiting.sleep(waiting.poll_seconds)


def _gone_is_fine(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as error:
        if _code(error) not in NOT_FOUND:
            raise


def _exists(call: Callable[[], Any]) -> bool:
    try:
        call()
    except ClientError as error:
        if _code(error) in NOT_FOUND:
            return False
        raise
    return True


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


# --- the scheduled job -------------------------------------------------------------------------


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler's target: survey (apply only if configured), log, publish ReconcileOrphans."""
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    from broker.routing import routing_table_from_env

    logger = Logger(service="studio-broker-reconcile")
    table = routing_table_from_env()
    clients = AwsClients()
    role = os.environ.get("BROKER_RECONCILE_SPOKE_ROLE", "StudioBrokerReconcile")
    spokes = spoke_role_clients(clients, role, spoke_external_ids(table))
    members = MembershipResolver(clients, table.identity_store) if table.identity_store else None
    report = survey(table, spokes, members, progress=logger.info)
    orphans = len(report.orphans)
    with single_metric(name="ReconcileOrphans", unit=MetricUnit.Count, value=orphans,
                       namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "StudioBroker")):
        pass
    if os.environ.get("BROKER_RECONCILE_APPLY", "false").lower() == "true" and orphans:
        limit = int(os.environ.get("BROKER_RECONCILE_MAX", str(DEFAULT_MAX)))
        try:
            apply(report, spokes, limit, progress=logger.info)
        except TooManyOrphans as refused:
            logger.warning("reconcile refused", extra={"found": refused.found, "max": refused.allowed})
    now = datetime.now(UTC)
    for finding in report.findings:
        if finding.verdict != "live":
            # under one key: a LogRecord refuses extras named like its own fields (created)
            logger.info("profile", extra={"profile": finding.as_dict(now)})
    for problem in report.problems:
        logger.warning("spoke not surveyed", extra={"problem": problem})
    return {"orphans": orphans, "applied": report.applied, "counts": report.counts(),
            "problems": len(report.problems)}
