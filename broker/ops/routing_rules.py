"""The rules of ``broker routing validate`` beyond the loader's: the catalogue and the checks.

Each rule has a stable id and a default severity (:data:`RULES`). A check is a
small function of a :class:`RuleContext` (the parsed document, the account
registry, the options) that yields :class:`Finding` objects; the loader's own
problems are sorted under rule ids by :mod:`broker.ops.routing_check`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any

from broker.arns import partition
from broker.config import RoutingTable
from broker.ops.accounts import AccountRegistry
from broker.ops.routing_source import certificate_problem
from broker.ops.stacksets import propagated_domain_tags
from broker.ops.team_roles import logical_id, role_path_and_name, team_roles_template
from broker.ops.yamldoc import Problem, YamlDocument, format_path
from broker.profile_name import profile_name_for
from broker.routing import TEAM_TAG, USER_TAG

ERROR = "error"
WARNING = "warning"
DEFAULT_CERT_WARNING_DAYS = 30
# SageMaker's "Maximum number of user profiles per domain" as we assume it (the
# emulator's default too); check Service Quotas in each spoke and pass the real value.
DEFAULT_PROFILE_QUOTA = 500
CAPACITY_WARNING_RATIO = 0.8
# Role names the spokes already use for something else.
# SageMaker takes at most 50 tags per resource (CreateUserProfile: Tags, 0-50 items). What
# Studio makes for a profile (apps, spaces, jobs) carries the profile's tags, the domain's when
# it propagates them (TagPropagation), and SageMaker's own ARN tags, which count too; aws: tags
# count for nothing. AWS: https://docs.aws.amazon.com/sagemaker/latest/dg/custom-tags.html
SAGEMAKER_TAG_LIMIT = 50
SAGEMAKER_ARN_TAGS = ("sagemaker:domain-arn", "sagemaker:user-profile-arn", "sagemaker:space-arn")
# CreateStackSet/UpdateStackSet TemplateBody: "a maximum length of 51,200 bytes" (the rollout
# passes the generated team-roles template inline).
TEMPLATE_BODY_LIMIT = 51_200
_TEMPLATE_PROBE_TEAMS = 32  # a probe: when these teams alone are over the limit, so are all
_STACKSET_ROLES = ("AWSCloudFormationStackSetExecutionRole", "AWSCloudFormationStackSetAdministrationRole")
_DEFAULT_BROKER_ROLE = "StudioBrokerAccess"


@dataclass(frozen=True)
class Rule:
    """One check: a stable id (used in output, docs and tests), its severity and a summary."""

    id: str
    severity: str
    summary: str


RULES: Mapping[str, Rule] = MappingProxyType({rule.id: rule for rule in (
    Rule("yaml-syntax", ERROR, "the file is not valid YAML (or uses an unsupported construct)"),
    Rule("yaml-too-large", ERROR, "the file, or what its aliases expand to, is over the size bound"),
    Rule("yaml-duplicate-key", ERROR, "a key appears twice in one mapping"),
    Rule("routing-empty", ERROR, "the file holds no routing table"),
    Rule("schema-unknown-field", ERROR, "a field the schema does not know (usually a typo)"),
    Rule("schema-required", ERROR, "a required field is missing"),
    Rule("schema-type", ERROR, "a value of the wrong type (e.g. an unquoted account id)"),
    Rule("schema-range", ERROR, "a number out of range (session and expiry values, limits)"),
    Rule("schema-value", ERROR, "a value of the right type that the schema refuses"),
    Rule("team-id-invalid", ERROR, "a team id that cannot form SageMaker user profile names"),
    Rule("team-id-duplicate", ERROR, "two teams with one id"),
    Rule("team-unknown", ERROR, "an application routes to a team that does not exist"),
    Rule("team-unrouted", ERROR, "no application routes to a team"),
    Rule("application-teams-source", ERROR, "an application with both or neither of teams and "
         "teams_from, or routed by membership without identity_store or teams with groups"),
    Rule("team-bound-twice", ERROR, "two applications route to a team that did not allow it"),
    Rule("application-duplicate", ERROR, "two applications with one name or issuer"),
    Rule("attribute-names-equal", ERROR, "the user and team SAML attributes have one name"),
    Rule("certificate-invalid", ERROR, "an IdP certificate that does not parse"),
    Rule("certificate-expired", ERROR, "an IdP certificate that has expired"),
    Rule("certificate-not-yet-valid", ERROR, "an IdP certificate whose notBefore is still ahead"),
    Rule("certificate-weak-key", ERROR,
         "an IdP certificate whose key is too weak (RSA below 2048 bits, EC below P-256) or not RSA/EC"),
    Rule("execution-role-account", ERROR, "the execution role is in another account"),
    Rule("execution-role-partition", ERROR, "the execution role's partition is not the region's"),
    Rule("team-partition", ERROR,
         "a team's region is in another AWS partition than the hub's (or the first team's, with no "
         "accounts/): a hub's credentials reach only its own partition"),
    Rule("team-tag-reserved", ERROR, "the reserved Team or User tag is set, changed or imitated"),
    Rule("team-tag-budget", ERROR,
         "more team tags than fit in SageMaker's 50 per resource beside the tags the broker, the "
         "domain and SageMaker add"),
    Rule("cidr-invalid", ERROR, "an allowed source network that is not a CIDR"),
    Rule("user-settings-execution-role", ERROR, "user_settings sets ExecutionRole"),
    Rule("user-settings-invalid", ERROR,
         "user_settings that SageMaker's CreateUserProfile refuses (botocore's own model of UserSettings)"),
    Rule("accounts-invalid", ERROR, "the account registry (accounts/) does not load"),
    Rule("accounts-missing", WARNING, "no account registry: registry checks were skipped"),
    Rule("account-not-registered", ERROR, "the team's account is not in accounts/"),
    Rule("region-not-deployed", ERROR, "the team's region is not one of its account's regions"),
    Rule("domain-not-deployed", ERROR, "the team's domain name is not the one the rollout makes"),
    Rule("spoke-access-conflict", ERROR, "teams of one account use different broker-access settings"),
    Rule("broker-access-role-name", ERROR,
         "a team's broker-access role name is not the organisation's one (the hub's BrokerAccessRoleName)"),
    Rule("execution-role-shared", ERROR, "two teams of one account use one execution role"),
    Rule("execution-role-reserved", ERROR, "the execution role has a name the spoke uses otherwise"),
    Rule("execution-role-not-provisioned", ERROR, "the team-roles StackSet would not create the role"),
    Rule("team-roles-template-size", ERROR,
         "an account's generated team-roles template is over CloudFormation's 51,200-byte TemplateBody"),
    Rule("certificate-expires-soon", WARNING, "an IdP certificate expires within --cert-warning-days"),
    Rule("certificate-shared", WARNING, "two applications trust the same certificate"),
    Rule("shared-applications-unused", WARNING, "shared_applications is set, one application routes"),
    Rule("team-disabled", WARNING, "the team's kill switch is on: sign-ins show a maintenance page"),
    Rule("domain-capacity", WARNING, "profiles routed to a domain near (warning) or over (error) quota"),
)})

@dataclass(frozen=True)
class Finding:
    """One problem under a rule: where, what, how bad."""

    rule: str
    severity: str
    problem: Problem

    @property
    def field(self) -> str:
        return format_path(self.problem.path)

    def __str__(self) -> str:
        p = self.problem
        where = f"{self.field}: " if p.path else ""
        return f"{p.source}:{p.line}:{p.column}: {self.severity} [{self.rule}] {where}{p.message}"

    def to_dict(self) -> dict[str, Any]:
        p = self.problem
        return {"rule": self.rule, "severity": self.severity, "file": p.source, "line": p.line,
                "column": p.column, "field": self.field, "message": p.message}


@dataclass(frozen=True)
class CheckOptions:
    """What the advisory checks compare against.

    ``expected_users`` maps a team id (or ``*``: every other team) to the number
    of people expected to sign in to it, over the table's own ``expected_users``;
    without a figure a team is not counted.
    ``base_teams``: the team ids of the table this one changes (``broker routing
    plan``), so a clash is reported on the team the change adds; ``None``: no
    base, the later team in the file is the one reported.
    """

    now: datetime | None = None
    cert_warning_days: int = DEFAULT_CERT_WARNING_DAYS
    expected_users: Mapping[str, int] = field(default_factory=dict)
    profile_quota: int | None = None  # None: each region's user_profile_quota in accounts/, else 500
    base_teams: frozenset[str] | None = None

    def users(self, team_id: str, in_table: Any = None) -> int | None:
        """People expected in ``team_id``: ``TEAM=N`` given, else the table's ``expected_users``
        (``in_table``), else ``N`` given for every team."""
        if team_id in self.expected_users:
            return self.expected_users[team_id]
        if isinstance(in_table, int) and not isinstance(in_table, bool) and in_table >= 0:
            return in_table
        return self.expected_users.get("*")


def finding(rule_id: str, problem: Problem, severity: str | None = None) -> Finding:
    """A :class:`Finding` of a catalogued rule (its default severity unless given)."""
    return Finding(rule_id, severity or RULES[rule_id].severity, problem)


# --- checks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleContext:
    document: YamlDocument
    registry: AccountRegistry | None
    options: CheckOptions
    now: datetime
    table: RoutingTable | None  # None while the file has YAML or schema errors
    reported: set[tuple[Any, ...]]  # paths that already have a finding

    def teams(self) -> list[tuple[int, dict[str, Any]]]:
        return _entries(self.document.data, "teams")

    def applications(self) -> list[tuple[int, dict[str, Any]]]:
        return _entries(self.document.data, "applications")

    def at(self, rule_id: str, path: tuple[Any, ...], message: str, severity: str | None = None) -> Finding:
        return finding(rule_id, self.document.problem(path, message), severity)


def _entries(data: Any, name: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(name) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _text(value: Any, pattern: str) -> str | None:
    """``value`` when it is a string matching ``pattern`` (malformed values are the schema's)."""
    return value if isinstance(value, str) and re.fullmatch(pattern, value) else None


def _account_of(team: dict[str, Any]) -> str | None:
    return _text(team.get("account"), r"[0-9]{12}")


def _team_id(team: dict[str, Any]) -> str | None:
    return _text(team.get("id"), r"[a-z0-9](-?[a-z0-9])*")


def _role_name(team: dict[str, Any]) -> str | None:
    role = team.get("execution_role")
    if not isinstance(role, str) or not role:
        return None
    return role_path_and_name(role)[1] if role.startswith("arn:") else role


def _spoke_access(context: RuleContext, team: dict[str, Any]) -> tuple[Any, Any]:
    data = context.document.data
    defaults = data.get("spoke_access") if isinstance(data, dict) else None
    merged = {**(defaults if isinstance(defaults, dict) else {}),
              **(team.get("spoke_access") if isinstance(team.get("spoke_access"), dict) else {})}
    return merged.get("role_name", _DEFAULT_BROKER_ROLE), merged.get("external_id")


def _team_id_profile_names(context: RuleContext) -> Iterator[Finding]:
    # Defence in depth behind the schema's pattern: the id must form names for any user id.
    for index, team in context.teams():
        team_id = team.get("id")
        path = ("teams", index, "id")
        if not isinstance(team_id, str) or path in context.reported:
            continue
        try:
            profile_name_for("x" * 63, team_id)
        except ValueError as error:
            yield context.at("team-id-invalid", path, str(error))


def _registry_rules(context: RuleContext) -> Iterator[Finding]:
    registry = context.registry
    if registry is None:
        return
    for index, team in context.teams():
        account_id = _account_of(team)
        if account_id is None:
            continue
        account = registry.accounts.get(account_id)
        if account is None:
            yield context.at("account-not-registered", ("teams", index, "account"),
                             f"account {account_id} is not in the account registry {registry.source}/ "
                             f"(add {registry.source}/{account_id}.yaml, then `broker rollout apply`)")
            continue
        region_code = _text(team.get("region"), r"[a-z0-9-]+")
        if region_code is None:
            continue
        region = account.region(region_code)
        if region is None:
            deployed = ", ".join(r.region for r in account.regions)
            yield context.at("region-not-deployed", ("teams", index, "region"),
                             f"region {region_code} is not deployed in account {account_id} "
                             f"(its regions: {deployed}; add it to {account.source})")
            continue
        domain = team.get("domain")
        name = domain.get("name") if isinstance(domain, dict) else None
        if isinstance(name, str) and name != region.domain_name:
            yield context.at("domain-not-deployed", ("teams", index, "domain", "name"),
                             f"domain {name!r} is not the domain the rollout makes in {account_id} "
                             f"{region_code} ({region.domain_name!r}, {account.source})")


def _one_partition(context: RuleContext) -> Iterator[Finding]:
    """Every team in the hub's partition: AssumeRole across partitions cannot succeed."""
    registry = context.registry
    hub: tuple[str, str] | None = None
    if registry is not None:
        hub_partition = registry.settings.broker_role_arn.split(":")[1]
        hub = (hub_partition, f"the hub is in {hub_partition} ({registry.source}/rollout.yaml "
                              "hub.broker_role_arn)")
    for index, team in context.teams():
        region = _text(team.get("region"), r"[a-z0-9-]+")
        if region is None:
            continue
        found = partition(region)
        if hub is None:
            hub = (found, f"the first team, {team.get('id')!r} ({region}), is in {found}")
        elif found != hub[0]:
            yield context.at("team-partition", ("teams", index, "region"),
                             f"region {region} is in partition {found}; {hub[1]}: a hub reaches "
                             f"only the accounts of its own partition (route this team from a hub "
                             f"in {found})")


def _spoke_access_conflicts(context: RuleContext) -> Iterator[Finding]:
    first: dict[str, tuple[str, tuple[Any, Any]]] = {}
    for index, team in context.teams():
        account_id, team_id = _account_of(team), _team_id(team)
        if account_id is None or team_id is None:
            continue
        access = _spoke_access(context, team)
        earlier = first.setdefault(account_id, (team_id, access))
        if earlier[1] != access:
            path = ("teams", index, "spoke_access") if "spoke_access" in team else ("teams", index, "account")
            yield context.at("spoke-access-conflict", path,
                             f"spoke_access differs from that of team {earlier[0]!r} in account "
                             f"{account_id}: one account has one broker-access role and ExternalId")


_BOTOCORE_NAME = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


def _user_settings_shape(context: RuleContext) -> Iterator[Finding]:
    """``user_settings`` judged by botocore's parameter validator against SageMaker's own model.

    A typo (``DefaultLandingURI``) or a wrong type would otherwise pass CI and fail every new
    member's CreateUserProfile after the merge. botocore's validator checks field names, types,
    required members and minimum lengths (not enum values or maximum lengths).
    """
    import difflib

    import botocore.session
    from botocore.validate import ParamValidator

    shape = (botocore.session.get_session().get_service_model("sagemaker")
             .operation_model("CreateUserProfile").input_shape.members["UserSettings"])
    for index, team in context.teams():
        settings, base = team.get("user_settings"), ("teams", index, "user_settings")
        if not isinstance(settings, dict) or base in context.reported:
            continue
        report = ParamValidator().validate(settings, shape)
        if not report.has_errors():
            continue
        for (kind, name, details), line in zip(report._errors, report.generate_report().splitlines(),
                                               strict=True):
            path = base + tuple(key if key else int(number)
                                for key, number in _BOTOCORE_NAME.findall(name))
            message = f"CreateUserProfile would refuse it: {line}"
            if kind == "invalid type":
                wanted = ", ".join(re.findall(r"'(\w+)'", " ".join(details["valid_types"])))
                message = (f"expected {wanted}, got {type(details['param']).__name__}; "
                           "CreateUserProfile would refuse every new member's profile")
            elif kind == "missing required field":
                message = (f"needs {details['required_name']!r}; "
                           "CreateUserProfile would refuse every new member's profile")
            elif kind == "unknown field":
                path += (details["unknown_param"],)
                close = difflib.get_close_matches(details["unknown_param"], details["valid_names"], n=1)
                message = (f"unknown UserSettings field {details['unknown_param']!r}"
                           + (f" (did you mean {close[0]!r}?)" if close else "")
                           + "; CreateUserProfile would refuse every new member's profile")
            problem = context.document.problem(path, message, key=kind == "unknown field")
            yield finding("user-settings-invalid", problem)


def _team_tag_budget(context: RuleContext) -> Iterator[Finding]:
    domain = propagated_domain_tags()
    added = {TEAM_TAG, USER_TAG, *domain, *SAGEMAKER_ARN_TAGS}
    for index, team in context.teams():
        tags, path = team.get("tags"), ("teams", index, "tags")
        if not isinstance(tags, dict) or path in context.reported:
            continue
        own = {key for key in tags if isinstance(key, str) and key != TEAM_TAG}
        total = len(own | added)
        if total <= SAGEMAKER_TAG_LIMIT:
            continue
        profile = len(own | {TEAM_TAG, USER_TAG})
        yield context.at("team-tag-budget", path, (
            f"team {team.get('id')!r} sets {len(own)} tags: with the broker's {TEAM_TAG} and {USER_TAG} "
            f"its profiles carry {profile}, and the apps, spaces and jobs Studio makes for them {total}, "
            f"with the domain's {len(domain)} propagated tags ({', '.join(domain) or 'none'}) and "
            f"SageMaker's {len(SAGEMAKER_ARN_TAGS)} ({', '.join(SAGEMAKER_ARN_TAGS)}): over SageMaker's "
            f"{SAGEMAKER_TAG_LIMIT} per resource, so creating them fails; at most "
            f"{SAGEMAKER_TAG_LIMIT - len(added)} fit"))


def _broker_access_role_name(context: RuleContext) -> Iterator[Finding]:
    """The hub's policy lets the broker assume ``arn:*:iam::*:role/<BrokerAccessRoleName>`` only."""
    data = context.document.data
    defaults = data.get("spoke_access") if isinstance(data, dict) else None
    name = defaults.get("role_name") if isinstance(defaults, dict) else None
    if not isinstance(name, str):
        name, where = _DEFAULT_BROKER_ROLE, "the default of spoke_access.role_name"
    else:
        where = f"spoke_access.role_name, line {context.document.position(('spoke_access', 'role_name'))[0]}"
    for index, team in context.teams():
        access = team.get("spoke_access")
        own = access.get("role_name") if isinstance(access, dict) else None
        path = ("teams", index, "spoke_access", "role_name")
        if not isinstance(own, str) or own == name or path in context.reported:
            continue
        yield context.at("broker-access-role-name", path,
                         f"broker-access role {own} is not the organisation's {name} ({where}): the hub "
                         "lets the broker assume one role name in every spoke, template.yaml's parameter "
                         f"BrokerAccessRoleName={name} (`broker routing hub-parameters`), so every sign-in "
                         f"to team {team.get('id')!r} would be refused (AccessDenied); remove this role_name")


def _execution_role_rules(context: RuleContext) -> Iterator[Finding]:
    settings = context.registry.settings if context.registry else None
    stackset_roles = {*_STACKSET_ROLES, *([settings.execution_role_name]
                                          if settings and settings.execution_role_name else [])}
    owners: dict[tuple[str, str], str] = {}
    for index, team in context.teams():
        account_id, team_id, name = _account_of(team), _team_id(team), _role_name(team)
        path = ("teams", index, "execution_role")
        if account_id is None or team_id is None or name is None or path in context.reported:
            continue
        broker_role = _spoke_access(context, team)[0]
        if name == broker_role or name in stackset_roles or name.startswith("AWSServiceRoleFor"):
            why = ("the broker-access role" if name == broker_role
                   else "a StackSets role" if name in stackset_roles else "an AWS service-linked role")
            yield context.at("execution-role-reserved", path,
                             f"role {name} is {why} in account {account_id}: the team-roles StackSet "
                             "cannot create the team's role under that name "
                             f"(use e.g. studio-{team_id}-execution)")
            continue
        owner = owners.setdefault((account_id, name.lower()), team_id)  # IAM role names ignore case
        if owner != team_id:
            yield context.at("execution-role-shared", path,
                             f"team {owner!r} already uses role {name} in account {account_id}: "
                             "the team-roles StackSet makes one role per team, tagged with its Team "
                             f"(ABAC); give this team its own, e.g. studio-{team_id}-execution")


def _roles_provisioned(context: RuleContext) -> Iterator[Finding]:
    """Build each account's team-roles template as the rollout does and look for every team's role."""
    table, registry = context.table, context.registry
    if table is None or registry is None:
        return
    index_of = {team.get("id"): index for index, team in context.teams()}
    by_account: dict[str, list[Any]] = {}
    for team in table.teams.values():
        if team.account_id in registry.accounts:
            by_account.setdefault(team.account_id, []).append(team)
    for account_id, teams in sorted(by_account.items()):
        clashing = yield from _resource_id_clashes(context, account_id, teams, index_of)
        template = _team_roles_template_within_limit(account_id, teams)
        if template is None:
            yield _template_too_large(context, account_id, teams, index_of)
            continue
        roles = _template_roles(template)
        for team in teams:
            path, name = role_path_and_name(team.execution_role_arn)
            found = roles.get(team.id)
            where = ("teams", index_of[team.id], "execution_role")
            if team.id in clashing or found == (path, name) or where in context.reported:
                continue
            yield context.at("execution-role-not-provisioned", where,
                             f"the team-roles StackSet of account {account_id} would not create role "
                             f"{name} for team {team.id!r}: it makes {found[1] if found else 'no role'} "
                             "instead")


def _team_roles_template_within_limit(account_id: str, teams: list[Any]) -> str | None:
    """The account's team-roles template as the rollout makes it, or ``None`` when it would be
    over :data:`TEMPLATE_BODY_LIMIT`. A template only grows with its teams, so when the first few
    teams are already over, the rest is not built (a large table stays cheap to judge)."""
    probe = sorted(teams, key=lambda t: t.id)[:_TEMPLATE_PROBE_TEAMS]
    if len(probe) < len(teams) and len(team_roles_template(account_id, probe)) > TEMPLATE_BODY_LIMIT:
        return None
    template = team_roles_template(account_id, teams)
    return template if len(template.encode("utf-8")) <= TEMPLATE_BODY_LIMIT else None


def _template_too_large(context: RuleContext, account_id: str, teams: list[Any],
                        index_of: Mapping[Any, int]) -> Finding:
    """Reported on the team that the change adds last (the last of the account in the file, without
    a base)."""
    base = context.options.base_teams
    ordered = sorted(teams, key=lambda t: index_of[t.id])
    added = [t for t in ordered if base is not None and t.id not in base]
    team = (added or ordered)[-1]
    one, two = (len(team_roles_template(account_id, ordered[:n]).encode("utf-8")) for n in (1, 2))
    fit = 1 + max(0, TEMPLATE_BODY_LIMIT - one) // max(1, two - one)  # each team adds about two - one
    return context.at("team-roles-template-size", ("teams", index_of[team.id], "account"),
                      f"account {account_id} would have {len(teams)} teams: its generated team-roles "
                      f"template would be over CloudFormation's {TEMPLATE_BODY_LIMIT:,}-byte TemplateBody, "
                      "so the rollout's CreateStackSet/UpdateStackSet fails for every team of the account "
                      f"(about {fit} teams fit in one account today); route team {team.id!r} to another "
                      "spoke account")


def _resource_id_clashes(context: RuleContext, account_id: str, teams: list[Any],
                         index_of: Mapping[Any, int]) -> Generator[Finding, None, set[str]]:
    """Teams whose ids give one CloudFormation resource id (``a-1`` and ``a1``): one template
    resource, so one of the roles would silently not exist. Reported on the team the change adds
    (not in ``base_teams``), or without a base on the later one in the file; returns every
    team id of a clash."""
    groups: dict[str, list[Any]] = {}
    for team in sorted(teams, key=lambda t: index_of[t.id]):
        groups.setdefault(logical_id(team.id), []).append(team)
    base = context.options.base_teams
    clashing: set[str] = set()
    for resource_id, group in groups.items():
        if len(group) < 2:
            continue
        clashing |= {t.id for t in group}
        owner = next((t for t in group if base is not None and t.id in base), group[0])
        for team in group:
            where = ("teams", index_of[team.id], "execution_role")
            if team is owner or where in context.reported:
                continue
            name = role_path_and_name(team.execution_role_arn)[1]
            yield context.at("execution-role-not-provisioned", where,
                             f"the team-roles StackSet of account {account_id} would not create role "
                             f"{name} for team {team.id!r}: its resource id {resource_id} is also that "
                             f"of team {owner.id!r} (team ids that differ only in hyphens before a digit); "
                             "rename this team")
    return clashing


@functools.lru_cache(maxsize=64)
def _template_roles(template: str) -> dict[str, tuple[str, str]]:
    import yaml

    roles: dict[str, tuple[str, str]] = {}
    for resource in (yaml.safe_load(template).get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
        if resource.get("Type") == "AWS::IAM::Role" and "Team" in tags:
            roles[tags["Team"]] = (properties.get("Path", "/"), properties.get("RoleName"))
    return roles


def _certificate_rules(context: RuleContext) -> Iterator[Finding]:
    horizon = context.now + timedelta(days=context.options.cert_warning_days)
    first: dict[str, tuple[int, Any]] = {}
    for index, app in context.applications():
        certificates = app.get("certificates")
        for number, pem in enumerate(certificates if isinstance(certificates, list) else []):
            path = ("applications", index, "certificates", number)
            if not isinstance(pem, str) or path in context.reported or certificate_problem(pem, None):
                continue
            not_after, subject = _expiry(pem.strip())
            if context.now < not_after <= horizon:
                days = (not_after - context.now).days
                yield context.at("certificate-expires-soon", path,
                                 f"certificate {subject} expires on {not_after:%Y-%m-%d %H:%M} UTC, "
                                 f"in {days} days: rotate it now (add the new certificate beside this "
                                 "one, make it active in Identity Center, then remove this one)")
            earlier = first.setdefault(pem.strip(), (index, app.get("name")))
            if earlier[0] != index:
                yield context.at("certificate-shared", path,
                                 f"the same certificate as application {earlier[1]!r} "
                                 f"(applications[{earlier[0]}]): each Identity Center application signs "
                                 "with its own; copy this application's certificate from its metadata")


@functools.lru_cache(maxsize=1024)
def _expiry(pem: str) -> tuple[datetime, str]:
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return certificate.not_valid_after_utc, certificate.subject.rfc4514_string()


def _application_rules(context: RuleContext) -> Iterator[Finding]:
    routed: dict[str, int] = {}
    for _, app in context.applications():
        teams = app.get("teams")
        for team_id in set(teams) if isinstance(teams, list) else ():
            if isinstance(team_id, str):
                routed[team_id] = routed.get(team_id, 0) + 1
    for index, team in context.teams():
        team_id = team.get("id")
        if team.get("shared_applications") is True and isinstance(team_id, str) and routed.get(team_id) == 1:
            yield context.at("shared-applications-unused", ("teams", index, "shared_applications"),
                             f"only one application routes to team {team_id!r}: remove shared_applications, "
                             "so that a second binding by mistake is caught")


def _disabled_teams(context: RuleContext) -> Iterator[Finding]:
    for index, team in context.teams():
        if team.get("enabled") is not False:
            continue
        message = team.get("disabled_message")
        shown = (f"the message {message!r}" if isinstance(message, str) and message.strip()
                 else "the default text (set disabled_message to say why and until when)")
        yield context.at("team-disabled", ("teams", index, "enabled"),
                         f"team {team.get('id')!r} is disabled: its sign-ins show the maintenance page "
                         f"(503) with {shown}; set enabled: true to reopen it")


def _domain_capacity(context: RuleContext) -> Iterator[Finding]:
    domains: dict[tuple[str, str, str], list[tuple[int, str, int]]] = {}
    for index, team in context.teams():
        team_id, account_id, domain = _team_id(team), _account_of(team), team.get("domain")
        region = team.get("region")
        if team_id is None or account_id is None or not isinstance(region, str):
            continue
        users = context.options.users(team_id, team.get("expected_users"))
        if users is None or not isinstance(domain, dict) or not domain:
            continue
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(domain.items()))
        domains.setdefault((account_id, region, shown), []).append((index, team_id, users))
    for (account_id, region, shown), teams in domains.items():
        quota = _profile_quota(context, account_id, region)
        total = sum(users for _, _, users in teams)
        if quota <= 0 or total < CAPACITY_WARNING_RATIO * quota:
            continue
        severity = ERROR if total > quota else WARNING
        listing = ", ".join(f"{team_id}: {users}" for _, team_id, users in teams)
        yield context.at("domain-capacity", ("teams", teams[-1][0], "domain"),
                         f"domain {{{shown}}} in {account_id} {region} would hold {total} user profiles "
                         f"({listing}), {round(100 * total / quota)}% of its quota of {quota}: raise "
                         "'Maximum number of user profiles per domain' in Service Quotas, or route a team "
                         "to another domain", severity)


def _profile_quota(context: RuleContext, account_id: str, region: str) -> int:
    """``--profile-quota`` when given, else the region's ``user_profile_quota`` in accounts/, else 500."""
    if context.options.profile_quota is not None:
        return context.options.profile_quota
    account = context.registry.accounts.get(account_id) if context.registry else None
    spoke = account.region(region) if account else None
    if spoke is not None and spoke.user_profile_quota is not None:
        return spoke.user_profile_quota
    return DEFAULT_PROFILE_QUOTA


RULE_FUNCTIONS: tuple[Callable[[RuleContext], Iterable[Finding]], ...] = (
    _team_id_profile_names,
    _user_settings_shape,
    _registry_rules,
    _one_partition,
    _spoke_access_conflicts,
    _broker_access_role_name,
    _team_tag_budget,
    _execution_role_rules,
    _roles_provisioned,
    _certificate_rules,
    _application_rules,
    _disabled_teams,
    _domain_capacity,
)
