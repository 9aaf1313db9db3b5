"""``broker routing plan``: what a change of ``routing.yaml`` does, not how its text changed.

Two routing tables are compared as the broker sees them (typed objects, with
defaults applied and role names turned into ARNs), so reordering, comments and
spelling a default out change nothing. The plan says:

- which teams are added, changed (field by field) and removed, and what each
  change does to the teams' existing user profiles (``<team>--<user>``);
- which applications and service provider settings change;
- which spoke StackSets and stack instances change: the desired StackSets
  (:func:`broker.ops.stacksets.desired_stack_sets`) of both tables, compared
  with one account registry, without calling AWS;
- what the cloud team must still do in Identity Center.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from broker.config import RoutingTable, Team, thaw
from broker.ops.accounts import AccountRegistry
from broker.ops.rollout import InstanceChange, RolledOut, StackSetPlan, plan_against
from broker.ops.routing_source import parse_routing_table
from broker.ops.stacksets import DEFAULT_TEMPLATES, StackSetSpec, desired_stack_sets

MARKER = "<!-- broker-routing-plan -->"  # lets CI find and update its own comment
# GitHub refuses a comment over 65,536 characters; the plan stays under it with room to spare.
PLAN_LIMIT = 60_000
VALUE_LIMIT = 2_000  # one field's value, old or new
TRUNCATED = ("the summary counts everything; run `broker routing plan --max-characters 0` "
             "to see the whole plan")


class GitError(Exception):
    """``git show`` failed for another reason than a file missing at that revision."""


@dataclass(frozen=True)
class FieldChange:
    """One field of a team, application or the service provider: before and after."""

    field: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Change:
    """A team or application that is added, changed or removed, and what that does."""

    name: str
    kind: str  # added | changed | removed
    fields: tuple[FieldChange, ...] = ()
    effects: tuple[str, ...] = ()


@dataclass(frozen=True)
class RoutingPlan:
    """The effect of going from one routing table to another."""

    old_label: str
    new_label: str
    service_provider: tuple[FieldChange, ...]
    teams: tuple[Change, ...]
    applications: tuple[Change, ...]
    spokes: tuple[InstanceChange, ...] | None  # None: no account registry to compute them
    identity_center: tuple[str, ...]
    notes: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # `broker routing validate`'s warnings on the new table

    @property
    def changed(self) -> bool:
        return bool(self.service_provider or self.teams or self.applications or self.spokes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (``broker routing plan --format json``); long values are bounded."""
        data = asdict(replace(self, service_provider=_bounded_changes(self.service_provider),
                              teams=_bounded_changes(self.teams),
                              applications=_bounded_changes(self.applications)))
        data["changed"] = self.changed
        return data


# --- inputs ------------------------------------------------------------------------------------


def load_table(text: str, source: str) -> RoutingTable:
    """A routing table for planning: validated, but certificate expiry is validate's concern."""
    return parse_routing_table(text, source, check_expiry=False)


def git_show(revision: str, path: str | Path) -> str | None:
    """The text of ``path`` at ``revision``, or ``None`` when the file did not exist there."""
    file = Path(path).resolve()
    try:
        result = subprocess.run(["git", "show", f"{revision}:./{file.name}"], cwd=file.parent,
                                capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise GitError(f"cannot run git: {error}") from error
    if result.returncode == 0:
        return result.stdout
    message = result.stderr.strip()
    if "does not exist in" in message or "exists on disk, but not in" in message:
        return None
    raise GitError(f"git show {revision}:{path} failed: {message or result.returncode}")


def same_work_tree(path: str | Path, other: str | Path) -> bool:
    """Whether ``path`` is inside the git work tree that holds ``other`` (both exist)."""
    def top(of: Path) -> Path | None:
        anchor = of if of.is_dir() else of.parent
        try:
            found = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=anchor, capture_output=True,
                                   text=True, check=False, timeout=60)
        except (OSError, subprocess.SubprocessError):
            return None
        return Path(found.stdout.strip()).resolve() if found.returncode == 0 else None

    mine, theirs = top(Path(path).resolve()), top(Path(other).resolve())
    return mine is not None and mine == theirs


def git_tree(revision: str, directory: str | Path, into: Path) -> Path | None:
    """Copy ``directory`` as it was at ``revision`` into the folder ``into`` (at its path in the
    repository) and return the copy; ``None`` when it did not exist there.

    The base side of a plan: its account registry and spoke templates, not today's.
    """
    import io
    import tarfile

    folder = Path(directory).resolve()
    anchor = folder if folder.is_dir() else folder.parent
    while not anchor.is_dir():
        anchor = anchor.parent
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=anchor, capture_output=True,
                             text=True, check=False, timeout=60)
        if top.returncode != 0:
            raise GitError(f"{folder} is not in a git work tree: {top.stderr.strip()}")
        root = Path(top.stdout.strip()).resolve()
        relative = folder.relative_to(root).as_posix()
        listing = subprocess.run(["git", "ls-tree", "-d", "--name-only", revision, "--", relative],
                                 cwd=root, capture_output=True, text=True, check=False, timeout=60)
        if listing.returncode != 0:
            raise GitError(f"git ls-tree {revision} failed: {listing.stderr.strip()}")
        if not listing.stdout.strip():
            return None
        archive = subprocess.run(["git", "archive", "--format=tar", revision, "--", relative],
                                 cwd=root, capture_output=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError, ValueError) as error:
        raise GitError(f"cannot read {folder} at {revision}: {error}") from error
    if archive.returncode != 0:
        raise GitError(f"git archive {revision} failed: {archive.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")
    return into / relative


# --- the plan ----------------------------------------------------------------------------------


def plan_routing(
    old: RoutingTable | None,
    new: RoutingTable,
    registry: AccountRegistry | None,
    *,
    old_label: str = "base",
    new_label: str = "routing.yaml",
    templates: str | Path = DEFAULT_TEMPLATES,
    old_registry: AccountRegistry | None = None,
    old_templates: str | Path | None = None,
    warnings: tuple[str, ...] = (),
    changed_files: Sequence[str] | None = None,
) -> RoutingPlan:
    """Compare ``old`` (``None``: no table yet) with ``new``.

    ``registry`` and ``templates`` are the head's; ``old_registry`` and
    ``old_templates`` the base's (default: the same). A base without a
    registry is :func:`empty_registry`. ``changed_files``: the repository
    paths the change touches (``None``: unknown), which decide how the hub
    deploys it.
    """
    provider = _differences(_provider_view(old), _provider_view(new)) if old else ()
    old_teams = {t.id: _team_view(t, old) for t in old.teams.values()} if old else {}
    new_teams = {t.id: _team_view(t, new) for t in new.teams.values()}
    teams: list[Change] = []
    for team_id in sorted(set(old_teams) | set(new_teams)):
        before, after = old_teams.get(team_id), new_teams.get(team_id)
        if before is None:
            teams.append(Change(team_id, "added", effects=_added_effects(team_id, after)))
        elif after is None:
            teams.append(Change(team_id, "removed", effects=_removed_effects(team_id, before)))
        else:
            fields = _differences(before, after)
            if fields:
                teams.append(Change(team_id, "changed", fields, _changed_effects(team_id, before, fields)))
    applications = _application_changes(old, new)
    spokes = None if registry is None else tuple(spoke_changes(
        desired_stack_sets(old_registry or registry, old, old_templates or templates),
        desired_stack_sets(registry, new, templates), registry))
    notes = _rename_notes(teams, old_teams, new_teams)
    if registry is None:
        notes.append("No account registry was found: spoke changes are not shown (pass --accounts DIR).")
    changed = bool(provider or teams or applications or spokes)
    if changed:
        notes.append(_when_live(old, new, spokes, teams, changed_files))
    return RoutingPlan(old_label, new_label, provider, tuple(teams), applications, spokes,
                       tuple(_identity_center_steps(old, new, provider, applications)), tuple(notes),
                       warnings)


def _provider_view(table: RoutingTable | None) -> dict[str, Any]:
    if table is None:
        return {}
    sp = table.service_provider
    return {"entity_id": sp.entity_id, "acs_url": sp.acs_url, "clock_skew_seconds": sp.clock_skew_seconds,
            "max_assertion_age_seconds": sp.max_assertion_age_seconds, "max_body_bytes": sp.max_body_bytes,
            "attributes": {"user": sp.attributes.user, "team": sp.attributes.team}}


def _team_view(team: Team, table: RoutingTable) -> dict[str, Any]:
    """What the broker does with a team, as plain values, in a fixed field order."""
    return {
        "account": team.account_id,
        "region": team.region,
        "domain": str(team.domain),
        "execution_role": team.execution_role_arn,
        "applications": sorted(a.name for a in table.applications.values() if team.id in a.teams),
        "enabled": team.enabled,
        "disabled_message": team.disabled_message,
        "tags": dict(sorted(thaw(team.tags).items())),
        # Frozen, not thawed: an aliased table expands to far more values than its file holds, and
        # comparing and rendering (bounded) need no copy.
        "user_settings": team.user_settings,
        "session_expiration_seconds": team.session_expiration_seconds,
        "presigned_url_expiry_seconds": team.presigned_url_expiry_seconds,
        "landing_uri": team.landing_uri,
        "space_name": team.space_name,
        "allowed_source_cidrs": list(team.allowed_source_cidrs),
        "spoke_access": {"role_name": team.spoke_access.role_name,
                         "external_id": team.spoke_access.external_id,
                         "session_duration_seconds": team.spoke_access.session_duration_seconds},
    }


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[FieldChange, ...]:
    keys = list(before) + [k for k in after if k not in before]
    return tuple(FieldChange(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k))


def _where(view: Mapping[str, Any]) -> str:
    return f"{view['account']} {view['region']} domain {view['domain']}"


def _added_effects(team_id: str, view: Mapping[str, Any]) -> tuple[str, ...]:
    effects = [f"New team in {_where(view)} with execution role {view['execution_role']}: members get "
               f"profiles named {team_id}--<user> there at their first sign-in."]
    if not view["enabled"]:
        effects.append("It starts disabled: sign-ins show the maintenance page until enabled: true.")
    return tuple(effects)


def _removed_effects(team_id: str, view: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        f"Sign-ins to {team_id} are refused (unknown team) once the broker is deployed.",
        f"Existing profiles {team_id}--* in {_where(view)} are orphaned: `broker profiles reconcile "
        "--apply` removes them with their apps and spaces (it surveys the domain while accounts/ lists "
        "it; home directories stay on EFS).",
        f"The rollout removes the execution role {view['execution_role']} from the team-roles StackSet: "
        "the team's running apps lose its permissions until reconcile removes them (docs/onboarding.md, "
        "offboarding).",
    )


_NEXT_SIGN_IN = ("session_expiration_seconds", "presigned_url_expiry_seconds", "landing_uri",
                 "space_name", "allowed_source_cidrs")


def _changed_effects(team_id: str, before: Mapping[str, Any],
                     fields: tuple[FieldChange, ...]) -> tuple[str, ...]:
    names = {change.field for change in fields}
    profiles = f"existing profiles {team_id}--*"
    effects: list[str] = []
    moved = names & {"account", "region", "domain"}
    if moved:
        effects.append(
            f"{', '.join(sorted(moved))} changed: {profiles} stay in the old domain ({_where(before)}) "
            "with their home directories and are orphaned; members get new, empty profiles in the new "
            "domain at their next sign-in. Move the data, then delete the old profiles (`broker profiles "
            "reconcile` lists them for review and never deletes them).")
    if "execution_role" in names and not moved:
        effects.append(
            f"execution_role changed: {profiles} keep the old role {before['execution_role']}. The broker "
            "does not update profiles: it refuses them (409, profile_execution_role_mismatch) until each "
            "is updated to the new role (UpdateUserProfile, UserSettings.ExecutionRole) or deleted. New "
            "profiles get the new role. A role the team-roles StackSet made is replaced: the old one is "
            "deleted.")
    for name in ("tags", "user_settings"):
        if name in names and not moved:
            effects.append(f"{name} changed: applies to new profiles only; {profiles} keep their "
                           f"{name.replace('_', ' ')} (the broker sets them only when it creates a profile).")
    if "enabled" in names:
        effects.append("Kill switch on: sign-ins show the maintenance page (503); profiles are untouched."
                       if not next(c.new for c in fields if c.field == "enabled")
                       else "Kill switch off: sign-ins work again.")
    if "applications" in names:
        effects.append("The applications that open this team changed: update the Identity Center "
                       "assignments; an application no longer listed is refused (403).")
    if "spoke_access" in names:
        effects.append("The broker reaches the spoke with another role or ExternalId: the spoke-access "
                       "StackSet must be rolled out before the broker is deployed, or sign-ins fail (502).")
    timing = sorted(names & set(_NEXT_SIGN_IN))
    if timing:
        effects.append(f"{', '.join(timing)}: takes effect at the next sign-in; profiles are untouched.")
    return tuple(effects)


def _when_live(old: RoutingTable | None, new: RoutingTable, spokes: tuple[InstanceChange, ...] | None,
               teams: list[Change], changed_files: Sequence[str] | None) -> str:
    """The deploy chain after the merge, and when the change reaches sign-ins."""
    from broker.ops.hub_parameters import AT_ONCE, deployment_preference

    choice = deployment_preference(old, new, changed_files)
    rollout = ("`broker rollout apply` (spokes first; not computed here)" if spokes is None
               else f"`broker rollout apply` ({len(spokes)} stack instance(s) above, spokes first)" if spokes
               else "`broker rollout apply` (no spoke change)")
    chain = (f"When it is live: merge -> CI (validate and the offline tests) -> approval of the "
             f"`production` environment -> {rollout} -> the hub: `sam deploy` with "
             f"DeploymentPreference={choice.preference} (`broker routing hub-parameters --base` the "
             f"deployed revision; {choice.reason}).")
    added = [c.name for c in teams if c.kind == "added"]
    if choice.preference == AT_ONCE:
        return chain + " Every sign-in reaches the new version as soon as the deploy ends."
    if added:
        return chain + (f" Until the shift ends (about five minutes with the default canary) 90% of "
                        f"sign-ins still reach the old version, which does not know {', '.join(added)}: "
                        "those sign-ins get 404 'unknown team' until then.")
    return chain + (" Until the shift ends (about five minutes with the default canary) 90% of sign-ins "
                    "still get the old behaviour.")


def _rename_notes(teams: list[Change], old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    removed = [c.name for c in teams if c.kind == "removed"]
    notes = []
    for change in teams:
        if change.kind != "added":
            continue
        for gone in removed:
            if all(old[gone][k] == new[change.name][k] for k in ("account", "region", "domain")):
                notes.append(f"{change.name} looks like a rename of {gone}: profile names start with the "
                             f"team id, so members get new profiles {change.name}--* and the old "
                             f"{gone}--* are orphaned.")
    return notes


# --- applications and Identity Center -----------------------------------------------------------


def _certificate_label(pem: str) -> str:
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    digest = hashlib.sha256(pem.strip().encode("ascii")).hexdigest()[:12]
    until = certificate.not_valid_after_utc
    return f"{certificate.subject.rfc4514_string()}, until {until:%Y-%m-%d} ({digest})"


def _application_view(table: RoutingTable) -> dict[str, dict[str, Any]]:
    return {app.name: {"issuer": app.issuer, "teams": sorted(app.teams),
                       **({"teams_from": "membership"} if app.by_membership else {}),
                       "certificates": [_certificate_label(pem) for pem in app.certificates]}
            for app in table.applications.values()}


def _application_changes(old: RoutingTable | None, new: RoutingTable) -> tuple[Change, ...]:
    before = _application_view(old) if old else {}
    after = _application_view(new)
    changes = []
    for name in sorted(set(before) | set(after)):
        if name not in before:
            changes.append(Change(name, "added", _differences({}, after[name])))
        elif name not in after:
            changes.append(Change(name, "removed", effects=(
                "Its sign-ins are refused: delete the application in Identity Center.",)))
        else:
            fields = _differences(before[name], after[name])
            if fields:
                changes.append(Change(name, "changed", fields))
    return tuple(changes)


def _identity_center_steps(old: RoutingTable | None, new: RoutingTable, provider: tuple[FieldChange, ...],
                           applications: tuple[Change, ...]) -> list[str]:
    sp = new.service_provider
    by_name = {app.name: app for app in new.applications.values()}
    steps: list[str] = []
    for change in applications:
        if change.kind == "added":
            app = by_name[change.name]
            if app.by_membership:
                steps.append(
                    f"Application {app.name!r} (issuer {app.issuer}): a custom SAML 2.0 application "
                    f"with Application ACS URL {sp.acs_url} and Application SAML audience "
                    f"{sp.entity_id}; attribute mappings: Subject -> ${{user:subject}} (persistent), "
                    f"{sp.attributes.user} -> ${{user:subject}} (see docs/deployment.md, attribute "
                    "mappings), no team attribute (the Identity Store decides); a SHA-256 signing "
                    "certificate; assign the groups of every team with groups. The issuer and "
                    "certificate in routing.yaml must be this application's (from its metadata).")
                continue
            team_value = (f"the fixed value {next(iter(app.teams))!r}" if len(app.teams) == 1 else
                          "the member's team (one of " + ", ".join(sorted(app.teams)) + "), per user")
            steps.append(
                f"Application {app.name!r} (issuer {app.issuer}): a custom SAML 2.0 application with "
                f"Application ACS URL {sp.acs_url} and Application SAML audience {sp.entity_id}; "
                f"attribute mappings: Subject -> ${{user:subject}} (persistent), {sp.attributes.user} -> "
                f"${{user:subject}} (see docs/deployment.md, attribute mappings), {sp.attributes.team} -> "
                f"{team_value}; a SHA-256 signing certificate; assign the "
                f"group(s) of team(s) {', '.join(sorted(app.teams))}. The issuer and certificate in "
                "routing.yaml must be this application's (from its metadata).")
        elif change.kind == "removed":
            steps.append(f"Application {change.name!r}: delete it (or remove its assignments).")
        else:
            for field in change.fields:
                if field.field == "teams":
                    added = sorted(set(field.new) - set(field.old))
                    removed = sorted(set(field.old) - set(field.new))
                    if added:
                        steps.append(f"Application {change.name!r} now also opens {', '.join(added)}: its "
                                     f"{sp.attributes.team} mapping must send that team id for those "
                                     "members, and their groups must be assigned.")
                    if removed:
                        steps.append(f"Application {change.name!r} no longer opens {', '.join(removed)}: "
                                     "remove those groups' assignments.")
                elif field.field == "certificates":
                    steps.append(f"Application {change.name!r}: certificates changed. During a rotation, "
                                 "make the new certificate active in Identity Center once this is "
                                 "deployed; remove the old one from routing.yaml afterwards.")
    changed = {c.field: c for c in provider}
    if "acs_url" in changed or "entity_id" in changed:
        steps.append(f"Every application: set Application ACS URL to {sp.acs_url} and Application SAML "
                     f"audience to {sp.entity_id} when the broker with this table is deployed; until then "
                     "sign-ins of applications not yet updated fail (401).")
    if "attributes" in changed:
        steps.append(f"Every application: rename the attribute mappings to {sp.attributes.user} and "
                     f"{sp.attributes.team}.")
    return steps


# --- spokes ------------------------------------------------------------------------------------


def spoke_changes(before: list[StackSetSpec], after: list[StackSetSpec],
                  registry: AccountRegistry) -> list[InstanceChange]:
    """Every stack instance that ``broker rollout apply`` of ``after`` creates, updates or deletes
    where a rollout of ``before`` ran last: the rollout's own planner, run against that state."""
    old = {s.name: s for s in before}
    planned = plan_against(RolledOut(before, registry.settings), registry.settings, after)
    changes: list[InstanceChange] = []
    for stack_set in planned.stack_sets:
        was, will = old.get(stack_set.spec.name), stack_set.spec
        roles = _role_changes(was, will if will.targets else None)
        why = _stack_set_reasons(stack_set, was)
        for instance in stack_set.instances:
            if instance.action == "unchanged":
                continue
            if roles:
                details = roles
            elif instance.via_stack_set:
                details = why
            elif instance.action == "delete":
                details = _delete_warnings(instance.stack_set)
            else:
                details = instance.details + why
            changes.append(InstanceChange(instance.stack_set, instance.account, instance.region,
                                          instance.action, details, instance.via_stack_set))
    return changes


def _delete_warnings(stack_set: str) -> tuple[str, ...]:
    """What must happen before a spoke's instance can be deleted (docs/deployment.md, 5)."""
    if stack_set.endswith("-spoke-domain"):
        return ("! deletes the SageMaker domain, which SageMaker refuses while it has user profiles (the "
                "instance then fails and keeps its network): remove its teams in a change of their own "
                "first and run `broker profiles reconcile --apply`, which surveys a domain only while "
                "accounts/ lists it",)
    if stack_set.endswith("-spoke-network"):
        return ("! the domain's home EFS file system outlives the domain and has mount targets in these "
                "subnets: delete it (after saving what must be kept) first, or this delete fails "
                "(DependencyViolation)",)
    if stack_set.endswith("-spoke-access"):
        return ("! the account's reconcile role goes with it: the scheduled job no longer reaches the "
                "account (`broker profiles reconcile` with the management account's role still does)",)
    return ()


def _stack_set_reasons(stack_set: StackSetPlan, was: StackSetSpec | None) -> tuple[str, ...]:
    """Why a StackSet itself changes: its template, or which StackSet-level parameter and why."""
    will = stack_set.spec
    if was is None or not stack_set.stack_set_changes:
        return ()
    reasons = []
    if was.template != will.template:
        reasons.append(f"template changed (stacksets/{Path(will.source).name}): CloudFormation updates "
                       "every instance")
    for key in sorted(set(was.parameters) | set(will.parameters)):
        before, after = was.parameters.get(key), will.parameters.get(key)
        if before == after:
            continue
        by_before, by_after = _overridden_by(was, key), _overridden_by(will, key)
        if after is None:
            why = (f"no instance overrides it any more (before: {by_before or 'none'}), and a StackSet "
                   "holds only the parameters its instances may override")
        elif before is None:
            why = (f"now overridden by {by_after}: an instance may override only a parameter the "
                   "StackSet has, so the StackSet gets it")
        else:
            why = "a StackSet-wide value (accounts/rollout.yaml or the template's default)"
        reasons.append(f"StackSet parameter {key}: {before or '(unset)'} -> {after or '(unset)'}: {why}; "
                       "CloudFormation updates every instance")
    return tuple(reasons) or stack_set.stack_set_changes


def _overridden_by(spec: StackSetSpec, key: str) -> str:
    return ", ".join(f"{t.account} {t.region}" for t in spec.targets if key in t.overrides)


def empty_registry(registry: AccountRegistry, source: str) -> AccountRegistry:
    """A base with no account registry yet: ``registry``'s settings, no accounts."""
    from types import MappingProxyType

    return AccountRegistry(source, registry.settings, MappingProxyType({}))


def _role_changes(was: StackSetSpec | None, will: StackSetSpec | None) -> tuple[str, ...]:
    # Only the generated team-roles templates name teams; the others are CloudFormation YAML with tags.
    before = _roles(was.template) if was and "-team-roles-" in was.name else {}
    after = _roles(will.template) if will and "-team-roles-" in will.name else {}
    out = []
    for team in sorted(set(before) | set(after)):
        if team not in before:
            out.append(f"+ role {after[team]} (team {team})")
        elif team not in after:
            out.append(f"- role {before[team]} (team {team})")
        elif before[team] != after[team]:
            out.append(f"~ role of team {team}: {before[team]} -> {after[team]}")
    # A role name handed from a removed team to an added one (a team rename): CloudFormation
    # creates the new resource before it deletes the old, and IAM refuses the second role of that name.
    for name in sorted(set(after.values()) & set(before.values())):
        gone = [t for t, role in before.items() if role == name and after.get(t) != name]
        new = [t for t, role in after.items() if role == name and before.get(t) != name]
        if gone and new:
            out.append(f"! role {name} passes from team {gone[0]} to team {new[0]}: CloudFormation creates "
                       "the new role before it deletes the old one, so this update fails on the name. Give "
                       f"{new[0]} a role of its own, or remove {gone[0]} in an earlier change.")
    return tuple(out)


def _roles(template: str) -> dict[str, str]:
    data = yaml.safe_load(template) or {}
    roles = {}
    for resource in (data.get("Resources") or {}).values():
        properties = resource.get("Properties") or {}
        tags = {tag["Key"]: tag["Value"] for tag in properties.get("Tags", [])}
        if resource.get("Type") == "AWS::IAM::Role" and "Team" in tags:
            roles[tags["Team"]] = f"{properties.get('Path', '/')}{properties.get('RoleName')}".lstrip("/")
    return roles


def _override_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{key}: {before.get(key, '(unset)')} -> {after.get(key, '(unset)')}"
                 for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key))


def _listing(values: Mapping[str, str]) -> tuple[str, ...]:
    return tuple(f"{key}={value}" for key, value in sorted(values.items()))


# --- rendering ---------------------------------------------------------------------------------

_MARKS = {"added": "+", "changed": "~", "removed": "-", "create": "+", "update": "~", "delete": "-"}


def _pieces(value: Any) -> Iterator[str]:
    """The rendering of ``value`` piece by piece, so a caller can stop early (an aliased table
    expands to far more than its file)."""
    if value is None:
        yield "(unset)"
    elif isinstance(value, bool):
        yield "true" if value else "false"
    elif isinstance(value, list | tuple):
        yield "["
        for number, item in enumerate(value):
            if number:
                yield ", "
            if isinstance(item, list | tuple | Mapping):
                yield from _pieces(item)
            else:
                yield str(item)
        yield "]"
    elif isinstance(value, Mapping):
        yield "{"
        for number, (key, item) in enumerate(value.items()):
            yield f"{', ' if number else ''}{key}: "
            yield from _pieces(item)
        yield "}"
    else:
        yield str(value)


def _value(value: Any, limit: int = VALUE_LIMIT) -> str:
    """``value`` for a person, at most ``limit`` characters and a line that says what was left off."""
    out: list[str] = []
    size = 0
    for piece in _pieces(value):
        if size + len(piece) > limit:
            out.append(piece[:limit - size])
            return "".join(out) + f" ... (left off: the rest of a value longer than {limit} characters)"
        out.append(piece)
        size += len(piece)
    return "".join(out)


def _too_long(value: Any, limit: int = VALUE_LIMIT) -> bool:
    size = 0
    for piece in _pieces(value):
        size += len(piece)
        if size > limit:
            return True
    return False


def _bounded_changes(changes: tuple[Any, ...]) -> tuple[Any, ...]:
    """Changes whose long values are replaced by their bounded rendering (for JSON)."""
    def field(change: FieldChange) -> FieldChange:
        old, new = (_value(v) if _too_long(v) else thaw(v) for v in (change.old, change.new))
        return FieldChange(change.field, old, new)

    return tuple(replace(c, fields=tuple(field(f) for f in c.fields)) if isinstance(c, Change) else field(c)
                 for c in changes)


def bounded_lines(lines: Iterable[str], limit: int, how: str) -> Iterator[str]:
    """``lines`` up to ``limit`` characters in all (0: no limit), then one line saying what was left off."""
    size = 0
    iterator = iter(lines)
    for line in iterator:
        if limit and size + len(line) + 1 > limit:
            rest = [len(line)] + [len(more) for more in iterator]
            yield (f"... plan truncated at {limit} characters: {len(rest)} more line(s), "
                   f"{sum(rest) + len(rest)} characters, left off; {how}")
            return
        size += len(line) + 1
        yield line


def _summary(plan: RoutingPlan) -> str:
    if not plan.changed:
        return "No change in effect."
    counts = {kind: sum(c.kind == kind for c in plan.teams) for kind in ("added", "changed", "removed")}
    teams = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n) or "none changed"
    spokes = "not computed" if plan.spokes is None else f"{len(plan.spokes)} stack instance(s) change"
    return f"Teams: {teams}. Spokes: {spokes}. Identity Center: {len(plan.identity_center)} step(s)."


def _sections(plan: RoutingPlan) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    """(section title, [(entry headline, detail lines)]) shared by the text and Markdown renderers."""
    sections: list[tuple[str, list[tuple[str, list[str]]]]] = []
    if plan.service_provider:
        sections.append(("Service provider", [
            (f"~ {c.field}: {_value(c.old)} -> {_value(c.new)}", []) for c in plan.service_provider]))
    for title, changes in (("Teams", plan.teams), ("Applications", plan.applications)):
        if changes:
            sections.append((title, [
                (f"{_MARKS[c.kind]} {c.name} ({c.kind})",
                 [f"{f.field}: {_value(f.old)} -> {_value(f.new)}" if c.kind == "changed"
                  else f"{f.field}: {_value(f.new)}" for f in c.fields]
                 + [f"! {effect}" for effect in c.effects]) for c in changes]))
    if plan.spokes:
        sections.append(("Spoke accounts (StackSets)", [
            (f"{_MARKS[s.action]} {s.stack_set} {s.account} {s.region} ({s.action})", list(s.details))
            for s in plan.spokes]))
    if plan.identity_center:
        sections.append(("Identity Center (the cloud team)",
                         [(f"{n}. {step}", []) for n, step in enumerate(plan.identity_center, 1)]))
    if plan.warnings:
        sections.append(("Warnings (broker routing validate)", [(w, []) for w in plan.warnings]))
    if plan.notes:
        sections.append(("Notes", [(note, []) for note in plan.notes]))
    return sections


def render_text(plan: RoutingPlan, limit: int = PLAN_LIMIT) -> str:
    """The plan for a terminal, at most about ``limit`` characters (0: no limit)."""
    def lines() -> Iterator[str]:
        for title, entries in _sections(plan):
            yield ""
            yield title
            for headline, details in entries:
                yield f"  {headline}"
                yield from (f"      {detail}" for detail in details)

    head, tail = f"Routing plan: {plan.old_label} -> {plan.new_label}", _summary(plan)
    body = bounded_lines(lines(), max(limit - len(head) - len(tail) - 4, 1) if limit else 0, TRUNCATED)
    return "\n".join([head, *body, "", tail])


def render_markdown(plan: RoutingPlan, limit: int = PLAN_LIMIT) -> str:
    """The plan as a pull request comment (starts with :data:`MARKER`), at most about ``limit``
    characters: GitHub refuses a comment over 65,536."""
    def lines() -> Iterator[str]:
        for title, entries in _sections(plan):
            yield from ("", f"#### {title}", "")
            for headline, details in entries:
                yield f"- {_md(headline)}"
                yield from (f"  - {_md(detail)}" for detail in details)

    head = [MARKER, f"### Routing plan: `{plan.old_label}` → `{plan.new_label}`", "",
            f"**{_summary(plan)}**"]
    room = max(limit - sum(len(line) + 1 for line in head), 1) if limit else 0
    return "\n".join([*head, *bounded_lines(lines(), room, TRUNCATED)]) + "\n"


def bounded_json(plan: RoutingPlan, limit: int = PLAN_LIMIT) -> str:
    """``plan.to_dict()`` as JSON of at most about ``limit`` characters: entries past the limit are
    left off, counted in ``left_off``."""
    import json

    data = plan.to_dict()
    whole = json.dumps(data, indent=2)
    if not limit or len(whole) <= limit:
        return whole
    left_off: dict[str, int] = {}
    room = limit - len(json.dumps({**{k: ([] if isinstance(v, list) else v) for k, v in data.items()},
                                   "left_off": {k: 0 for k, v in data.items() if isinstance(v, list)}},
                                  indent=2))
    for key in ("service_provider", "teams", "applications", "identity_center", "spokes", "warnings",
                "notes"):
        entries = data.get(key) or []
        kept = []
        for entry in entries:
            size = len(json.dumps(entry, indent=2)) + 8
            if size > room:
                break
            kept.append(entry)
            room -= size
        if len(kept) < len(entries):
            left_off[key] = len(entries) - len(kept)
            data[key] = kept
    return json.dumps({**data, "left_off": left_off}, indent=2)


def _md(text: str) -> str:
    # Team ids, ARNs and URLs are literal: backticks around the "field: old -> new" and role lines
    # would help, but escaping the few Markdown specials is enough to keep them verbatim.
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*").replace("_", "\\_")
