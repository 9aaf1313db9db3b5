"""The routing table the broker runs on: a compiled, already judged table, as typed objects.

``routing.yaml`` is read and judged once, on the operator path
(:mod:`broker.ops.routing_source`: YAML, JSON Schema and semantic checks, each
problem as ``file:line:column: field.path: message``; ``broker routing
validate`` adds the registry and advisory rules). Packaging then writes the
judged data as JSON (``broker routing compile``, called by
``scripts/package-lambda.sh``): a format version, the source file's name and
SHA-256 (the hub's ``RoutingDigest``), and the table. The Lambda loads that
file once per container with :func:`routing_table_from_env`: no YAML parser and
no schema code on its path, so it never meets a file that was not judged.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

from broker.arns import role_arn
from broker.config import (
    AttributeNames,
    DeployedDomain,
    DomainRef,
    IdentityStoreRef,
    IdpApplication,
    RoutingTable,
    ServiceProvider,
    SpokeAccess,
    Support,
    Team,
    frozen_mapping,
)
from broker.exceptions import ConfigurationError

ROUTING_FILE_ENV = "BROKER_ROUTING_FILE"
COMPILED_NAME = "routing.json"  # in the Lambda task root, written by packaging
COMPILED_FORMAT = 1  # the compiled file's layout; a broker reads only its own
MAX_COMPILED_BYTES = 64 * 1024 * 1024  # the largest table the operator path admits is 16 MiB of YAML
TEAM_TAG = "Team"
USER_TAG = "User"  # set per profile by the broker: the person it belongs to


def compiled_document(data: Mapping[str, Any], source: str, digest: str,
                      deployed: tuple[DeployedDomain, ...] = ()) -> dict[str, Any]:
    """The compiled form of judged routing ``data`` from ``source`` (whose SHA-256 is ``digest``),
    with the account registry's domains (``deployed``; a file without them reads as none)."""
    return {"format": COMPILED_FORMAT, "source": source, "source_sha256": digest, "table": data,
            "deployed_domains": [[d.account_id, d.region, d.name] for d in deployed]}


def load_compiled_table(path: str | Path) -> RoutingTable:
    """The routing table in a compiled file (see :func:`compiled_document`).

    Raises :class:`ConfigurationError` for a file that is missing, too large,
    not a compiled table, or of another format version.
    """
    where = str(path)
    package_again = "package the Lambda again (scripts/package-lambda.sh compiles routing.yaml)"
    try:
        with open(path, "rb") as file:
            raw = file.read(MAX_COMPILED_BYTES + 1)
    except OSError as exc:
        raise ConfigurationError([f"{where}: cannot read the compiled routing table: {exc}; "
                                  f"{package_again}"]) from exc
    if len(raw) > MAX_COMPILED_BYTES:
        raise ConfigurationError([f"{where}: larger than {MAX_COMPILED_BYTES:,} bytes; "
                                  "not a table the operator path admits"])
    with _collector_paused():
        try:
            compiled = json.loads(raw)
        except ValueError as exc:
            raise ConfigurationError([f"{where}: not a compiled routing table ({exc.__class__.__name__}); "
                                      f"{package_again}"]) from exc
        if not isinstance(compiled, dict) or compiled.get("format") != COMPILED_FORMAT:
            found = compiled.get("format") if isinstance(compiled, dict) else None
            raise ConfigurationError([f"{where}: compiled table format {found!r}, this broker reads "
                                      f"format {COMPILED_FORMAT}; {package_again}"])
        try:
            deployed = tuple(DeployedDomain(str(a), str(r), str(n))
                             for a, r, n in compiled.get("deployed_domains", ()))
            return build_routing_table(compiled["table"], str(compiled["source"]),
                                       str(compiled["source_sha256"]), deployed)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ConfigurationError([f"{where}: not a compiled routing table (no {exc}); "
                                      f"{package_again}"]) from exc


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one table load, then resume it.

    A 10,000-team load allocates hundreds of thousands of objects and keeps most;
    each full collection it triggers walks all of them and everything else in the
    process (boto3's models). The loaded data holds no reference cycles, so
    nothing is lost; any cycles made meanwhile are collected after. Left alone
    if the collector is already off (someone else's pause, or another load).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


# --- the per-container table -------------------------------------------------------------------

_TABLES: dict[Path, RoutingTable] = {}


def routing_table_path() -> Path:
    """``$BROKER_ROUTING_FILE``, else ``routing.json`` in the Lambda task root
    (``$LAMBDA_TASK_ROOT``) or next to the ``broker`` package."""
    configured = os.environ.get(ROUTING_FILE_ENV)
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    root = Path(task_root) if task_root else Path(__file__).resolve().parent.parent
    return root / COMPILED_NAME


def routing_table_from_env() -> RoutingTable:
    """The routing table of this container: loaded on first use, then reused.

    A failed load is not cached, so the next call tries again.
    """
    path = routing_table_path()
    table = _TABLES.get(path)
    if table is None:
        table = _TABLES[path] = load_compiled_table(path)
    return table


def clear_cache() -> None:
    """Forget the loaded routing table(s) (tests, or a deliberate reload)."""
    _TABLES.clear()


# --- typed objects -----------------------------------------------------------------------------


def build_routing_table(data: Mapping[str, Any], source: str, digest: str = "",
                        deployed: tuple[DeployedDomain, ...] = ()) -> RoutingTable:
    """Typed, immutable objects from routing data that passed the operator's judgement
    (:func:`broker.ops.routing_source.routing_problems`); ``source`` names the file,
    ``deployed`` the account registry's domains."""
    provider = dict(data["service_provider"])
    attributes = AttributeNames(**provider.pop("attributes", {}))
    service_provider = ServiceProvider(**provider, attributes=attributes)

    defaults = data["spoke_access"]
    shared_access = SpokeAccess(**defaults)
    support = Support(**data.get("support", {}))
    teams: dict[str, Team] = {}
    for entry in data["teams"]:
        override = entry.get("spoke_access")
        access = SpokeAccess(**{**defaults, **override}) if override else shared_access
        team_support = Support(**entry["support"]).over(support) if "support" in entry else support
        teams[entry["id"]] = _team(entry, access, team_support)

    applications: dict[str, IdpApplication] = {}
    for entry in data["applications"]:
        applications[entry["issuer"]] = IdpApplication(
            name=entry["name"],
            issuer=entry["issuer"],
            certificates=tuple(pem.strip() + "\n" for pem in entry["certificates"]),
            teams=frozenset(entry.get("teams", ())),
            by_membership=entry.get("teams_from") == "membership",
        )
    return RoutingTable(
        source=source,
        digest=digest,
        service_provider=service_provider,
        applications=MappingProxyType(applications),
        teams=MappingProxyType(teams),
        spoke_access=shared_access,
        identity_store=_identity_store(data.get("identity_store")),
        support=support,
        deployed_domains=deployed,
    )


def _identity_store(entry: Mapping[str, Any] | None) -> IdentityStoreRef | None:
    if not entry:
        return None
    return IdentityStoreRef(identity_store_id=entry["id"], region=entry["region"],
                            role_arn=entry["role_arn"], external_id=entry["external_id"],
                            user_attribute=entry.get("user_attribute", "user_id"))


_TEAM_FIELDS = (
    "session_expiration_seconds",
    "presigned_url_expiry_seconds",
    "landing_uri",
    "space_name",
    "enabled",
    "disabled_message",
    "display_name",
)


# Shared by every team without user settings: read-only, so one is enough.
_NO_SETTINGS = frozen_mapping(None)


def _frozen_flat(values: dict[str, Any]) -> Mapping[str, Any]:
    """:func:`frozen_mapping` of a new dict, faster when no value is a container (tags)."""
    if all(type(value) is str for value in values.values()):
        return MappingProxyType(values)
    return frozen_mapping(values)


def _team(entry: Mapping[str, Any], access: SpokeAccess, support: Support) -> Team:
    team_id = entry["id"]
    account = entry["account"]
    role = entry["execution_role"]
    if not role.startswith("arn:"):
        role = role_arn(entry["region"], account, role)
    domain = entry["domain"]
    settings = entry.get("user_settings")
    return Team(
        id=team_id,
        account_id=account,
        region=entry["region"],
        domain=DomainRef(domain_id=domain.get("id"), name=domain.get("name")),
        execution_role_arn=role,
        tags=_frozen_flat({TEAM_TAG: team_id, **entry.get("tags", {})}),
        user_settings=frozen_mapping(settings) if settings else _NO_SETTINGS,
        spoke_access=access,
        support=support,
        allowed_source_cidrs=tuple(entry.get("allowed_source_cidrs", ())),
        groups=tuple(entry.get("groups", ())),
        **{name: entry[name] for name in _TEAM_FIELDS if name in entry},
    )
