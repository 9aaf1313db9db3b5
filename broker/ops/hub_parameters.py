"""The hub stack's parameters that the routing table decides (``broker routing hub-parameters``).

template.yaml lets the broker's role assume ``arn:${AWS::Partition}:iam::*:role/
${BrokerAccessRoleName}`` and nothing else, so that parameter must be the
broker-access role name of every team; ``SamlEntityId`` is the audience the
IdP applications were given. Deriving them from routing.yaml, which CI
validates, keeps the hub and the table in agreement by construction.

``RoutingDigest`` (added by the command, from the file's bytes): what the
deployed table is, for ``broker doctor``.

``CustomAcsUrl``: the hub's ``AcsUrl`` output is ``CustomAcsUrl`` when set,
else the API's own execute-api URL. The broker itself checks Destination
and Recipient against ``service_provider.acs_url``; so an execute-api
``acs_url`` gives ``CustomAcsUrl=""`` (the hub reports its own URL) and any
other URL (a custom domain in front of the API) is passed as it is.

``ReconcileSpokeRoleName`` (:func:`registry_parameters`, from accounts/rollout.yaml's
``hub.reconcile_role_name``): the hub lets its reconcile job assume that role name
in every spoke, and the rollout gives every spoke a role of that name; passed
from the one file, the two cannot disagree.

``DeploymentPreference`` (:func:`deployment_preference`): how the new version
reaches the ``live`` alias. A gradual deployment (the default canary) keeps
90% of sign-ins on the old version for five minutes, and the old version
does not know a team the change adds (404 "unknown team"). So when the change
since the deployed revision touches nothing the Lambda runs but routing.yaml,
and only adds to it, the version goes live at once; anything else stays
gradual (docs/deployment.md, "When a change is live").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from broker.config import RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops.accounts import AccountRegistry

# https://{api-id}.execute-api.{region}.amazonaws.com[.cn]/... (API Gateway's default endpoint)
# `broker init`'s placeholder (RFC 6761's reserved .invalid): the hub is to report its own URL.
_PENDING = re.compile(r"^https://[^/]+\.invalid(/|$)")
_EXECUTE_API = re.compile(r"^https://[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?(/|$)")


def hub_parameters(table: RoutingTable) -> dict[str, str]:
    """``BrokerAccessRoleName``, ``SamlEntityId``, ``CustomAcsUrl`` (and, with an ``identity_store``,
    ``IdentityStoreReaderRoleArn``) of the hub stack for ``table``.

    Raises :class:`ConfigurationError` when the teams use more than one
    broker-access role name (``broker routing validate`` shows where).
    """
    users: dict[str, list[str]] = {}
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        users.setdefault(team.spoke_access.role_name, []).append(team.id)
    if not users:  # the bootstrap state (no team yet): the table-wide name is the one to trust
        users[table.spoke_access.role_name] = []
    if len(users) != 1:
        listing = "; ".join(f"{name}: {', '.join(teams)}" for name, teams in sorted(users.items()))
        raise ConfigurationError([
            f"{table.source}: the teams use {len(users)} broker-access role names ({listing}), the hub "
            "lets the broker assume one (BrokerAccessRoleName): see `broker routing validate` "
            "[broker-access-role-name]"])
    acs_url = table.service_provider.acs_url
    parameters = {
        "BrokerAccessRoleName": next(iter(users)),
        "SamlEntityId": table.service_provider.entity_id,
        "CustomAcsUrl": "" if _EXECUTE_API.match(acs_url) or _PENDING.match(acs_url) else acs_url,
    }
    if table.identity_store is not None:  # the broker and the reconcile job may assume that reader
        parameters["IdentityStoreReaderRoleArn"] = table.identity_store.role_arn
    return parameters


def registry_parameters(registry: AccountRegistry) -> dict[str, str]:
    """The hub stack's parameters that the account registry decides: ``ReconcileSpokeRoleName``."""
    return {"ReconcileSpokeRoleName": registry.settings.reconcile_role_name}


def routing_digest(text: bytes) -> str:
    """The ``RoutingDigest`` of a routing table file: SHA-256 of its bytes, as the package ships them.

    The hub stack keeps it as an output, so ``broker doctor`` can tell whether the deployed
    broker runs the repository's table.
    """
    import hashlib

    return hashlib.sha256(text).hexdigest()


def parameter_overrides(parameters: Mapping[str, str]) -> str:
    """``Key=Value`` pairs as ``sam deploy --parameter-overrides`` reads them.

    SAM splits on spaces and unwraps double-quoted values (samcli/cli/types.py,
    CfnParameterOverridesType); an empty value must be quoted to be read at all.
    """
    return " ".join(f"{key}={_sam_value(value)}" for key, value in parameters.items())


def _sam_value(value: str) -> str:
    if value and not any(c in value for c in " \"'\\"):
        return value
    return '"' + value.replace('"', '\\"') + '"'


GRADUAL = "Canary10Percent5Minutes"  # template.yaml's default
AT_ONCE = "AllAtOnce"
# Files a change may touch and still leave the Lambda's code as it was: the table it ships, and the
# spoke registry (rolled out before the hub, never packaged into the Lambda).
_TABLE_ONLY = re.compile(r"^(.*/)?(routing\.yaml|accounts/[^/]+\.ya?ml)$")


@dataclass(frozen=True)
class DeploymentChoice:
    """The hub's ``DeploymentPreference`` for one change, and why."""

    preference: str
    reason: str


def deployment_preference(
    old: RoutingTable | None, new: RoutingTable, changed_files: Iterable[str] | None,
    gradual: str = GRADUAL,
) -> DeploymentChoice:
    """``AllAtOnce`` when the change only adds teams or applications to routing.yaml (and maybe
    registers spokes), else ``gradual``.

    ``changed_files``: the repository paths that differ from the deployed revision (``None``:
    unknown, so gradual). An addition cannot change what an existing sign-in does: every team
    and application that was there routes exactly as before (the plan's comparison by effect).
    """
    from broker.ops.routing_plan import plan_routing

    if changed_files is None or old is None:
        return DeploymentChoice(gradual, "no deployed revision to compare with: gradual, the safe default")
    others = sorted(f for f in changed_files if not _TABLE_ONLY.match(f))
    if others:
        shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
        return DeploymentChoice(gradual, f"the change touches more than the routing table ({shown}): "
                                         "gradual, so the rollback alarms can stop a bad version")
    plan = plan_routing(old, new, None)
    changed = [f"service_provider.{c.field}" for c in plan.service_provider]
    changed += [f"team {c.name} ({c.kind})" for c in plan.teams if c.kind != "added"]
    for app in plan.applications:
        grows = app.kind != "changed" or all(_grows(f.old, f.new) for f in app.fields)
        if app.kind == "removed" or not grows:
            changed.append(f"application {app.name} ({app.kind})")
    if changed:
        return DeploymentChoice(gradual, f"the change alters what existing sign-ins do "
                                         f"({', '.join(changed)}): gradual, so the rollback alarms can "
                                         "stop a bad version")
    added = [c.name for c in plan.teams] + [f"application {c.name}" for c in plan.applications]
    if not added:
        return DeploymentChoice(gradual, "routing.yaml has no change in effect: gradual")
    return DeploymentChoice(AT_ONCE, (
        f"the change only adds to routing.yaml ({', '.join(added)}): all at once, because the old "
        "version does not know what is added and a gradual deployment would refuse those sign-ins "
        "(404) for minutes"))


def _grows(old: object, new: object) -> bool:
    """An application's list field that only gains entries (teams, certificates)."""
    return isinstance(old, list) and isinstance(new, list) and set(old) <= set(new)


def source_revision(path: str) -> str:
    """The commit of the work tree that holds ``path``, or ``""`` when it has uncommitted changes
    or is not a git work tree (the next deploy then cannot compare with it and stays gradual)."""
    import subprocess
    from pathlib import Path

    where = Path(path).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--verify", "HEAD"], cwd=where, capture_output=True,
                              text=True, check=False, timeout=60)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=where, capture_output=True,
                               text=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return ""
    if head.returncode != 0 or dirty.returncode != 0 or dirty.stdout.strip():
        return ""
    return head.stdout.strip() if re.fullmatch(r"[0-9a-f]{40}", head.stdout.strip()) else ""


def changed_files(revision: str, path: str) -> list[str] | None:
    """Repository paths that differ between ``revision`` and the work tree (committed or not),
    or ``None`` when git cannot tell (an unknown revision, no repository)."""
    import subprocess
    from pathlib import Path

    where = Path(path).resolve().parent
    try:
        found = subprocess.run(["git", "diff", "--name-only", "--no-renames", revision, "--"], cwd=where,
                               capture_output=True, text=True, check=False, timeout=60)
        untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard", "--full-name"],
                                   cwd=where, capture_output=True, text=True, check=False, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return None
    if found.returncode != 0 or untracked.returncode != 0:
        return None
    return sorted(set(found.stdout.split()) | set(untracked.stdout.split()))
