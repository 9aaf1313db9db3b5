"""The routing table: ``routing.yaml`` parsed, validated and turned into typed objects.

Three stages, all problems of all stages reported together, each as
``file:line:column: field.path: message``:

1. YAML (:mod:`broker.yamlfile`): syntax, duplicate keys;
2. JSON Schema (``broker/schemas/routing.schema.json``): shapes, patterns, ranges,
   unknown fields;
3. semantics (here): cross-references between teams and applications, execution
   role account, the reserved ``Team`` tag and ``ExecutionRole`` setting, and the
   IdP certificates (PEM X.509, not expired).

A team that no application routes to is an error, not a warning: such an entry
can never be used, and the usual cause is a typo in an application's ``teams``.

The Lambda loads the table once per container with :func:`routing_table_from_env`.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import gc
import ipaddress
import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from broker.config import (
    AttributeNames,
    DomainRef,
    IdpApplication,
    RoutingTable,
    ServiceProvider,
    SpokeAccess,
    Support,
    Team,
    frozen_mapping,
)
from broker.exceptions import ConfigurationError
from broker.schema_check import SchemaCheck, compile_schema_check, schema_problems
from broker.yamlfile import Problem, YamlDocument, parse_yaml_with_problems, raise_problems

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

ROUTING_FILE_ENV = "BROKER_ROUTING_FILE"
TEAM_TAG = "Team"
USER_TAG = "User"  # set per profile by the broker: the person it belongs to
_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


@functools.cache
def routing_schema() -> dict[str, Any]:
    """The routing table's JSON Schema (shipped as package data)."""
    text = resources.files("broker").joinpath("schemas/routing.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def routing_validator() -> Draft202012Validator:
    """The compiled schema validator, built once per container."""
    # Imported here: only a table that fails routing_schema_check needs jsonschema
    # (~50 ms of the Lambda's cold start).
    from jsonschema import Draft202012Validator

    return Draft202012Validator(routing_schema())


@functools.cache
def routing_schema_check() -> SchemaCheck | None:
    """A fast yes/no check of the schema, built once per container.

    jsonschema takes about 150 us per team (and its application) to say a table
    is valid; this check about 8. jsonschema then only explains a table the
    check refuses.
    """
    return compile_schema_check(routing_schema())


def load_routing_table(
    path: str | Path, *, now: datetime | None = None, check_expiry: bool = True
) -> RoutingTable:
    """Read, validate and build the routing table in ``path``.

    ``now`` (default: the current time) decides which certificates have expired;
    with ``check_expiry=False`` expiry is not judged (the runtime: a certificate
    that expires while deployed must not stop every team's sign-ins; CI refuses it).
    Raises :class:`ConfigurationError` listing every problem.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError([f"{path}:1:1: cannot read the routing table: {exc}"]) from exc
    return parse_routing_table(text, str(path), now=now, check_expiry=check_expiry)


def parse_routing_table(
    text: str, source: str, *, now: datetime | None = None, check_expiry: bool = True
) -> RoutingTable:
    """Validate and build a routing table from YAML ``text``; ``source`` names it in messages."""
    with _collector_paused():
        document, problems = parse_yaml_with_problems(text, source)
        if document is not None:
            problems += routing_problems(document, now=now, check_expiry=check_expiry)
        raise_problems(problems)
        assert document is not None  # no problems means a document was built
        return build_routing_table(document)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one table load, then resume it.

    A 10,000-team load allocates over a million short-lived objects and keeps a
    few hundred thousand; each full collection it triggers walks all of them and
    everything else in the process (boto3's models): 100-150 ms of a 0.7 s load
    in the Lambda. The loaded data holds no reference cycles, so nothing is
    lost; any cycles made meanwhile are collected after. Left alone if the
    collector is already off (someone else's pause, or another load in flight).
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def routing_problems(
    document: YamlDocument, *, now: datetime | None = None, check_expiry: bool = True
) -> list[Problem]:
    """Schema and semantic problems of a parsed routing document (empty when valid)."""
    if document.data is None:
        return [document.problem((), "the routing table is empty")]
    check = routing_schema_check()
    if check is not None and check(document.data):
        problems: list[Problem] = []  # valid: jsonschema (and its import) not needed
    else:
        problems = schema_problems(document, routing_validator())
    problems += _semantic_problems(document, (now or datetime.now(UTC)) if check_expiry else None)
    return problems


# --- the per-container table -------------------------------------------------------------------

_TABLES: dict[Path, RoutingTable] = {}


def routing_table_path() -> Path:
    """``$BROKER_ROUTING_FILE``, else ``routing.yaml`` in the Lambda task root
    (``$LAMBDA_TASK_ROOT``) or next to the ``broker`` package."""
    configured = os.environ.get(ROUTING_FILE_ENV)
    if configured:
        return Path(configured)
    task_root = os.environ.get("LAMBDA_TASK_ROOT")
    root = Path(task_root) if task_root else Path(__file__).resolve().parent.parent
    return root / "routing.yaml"


def routing_table_from_env() -> RoutingTable:
    """The routing table of this container: loaded on first use, then reused.

    A failed load is not cached, so the next call tries again.
    """
    path = routing_table_path()
    table = _TABLES.get(path)
    if table is None:
        table = _TABLES[path] = load_routing_table(path, check_expiry=False)
    return table


def clear_cache() -> None:
    """Forget the loaded routing table(s) (tests, or a deliberate reload)."""
    _TABLES.clear()


# --- semantic checks ---------------------------------------------------------------------------


def _entries(data: Any, name: str) -> list[tuple[int, dict[str, Any]]]:
    items = data.get(name) if isinstance(data, dict) else None
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, dict)]


def _semantic_problems(doc: YamlDocument, now: datetime | None) -> list[Problem]:
    data = doc.data
    if not isinstance(data, dict):
        return []
    problems: list[Problem] = []
    problems += _attribute_problems(doc, data.get("service_provider"))

    teams: dict[str, tuple[int, dict[str, Any]]] = {}
    for index, team in _entries(data, "teams"):
        team_id = team.get("id")
        if isinstance(team_id, str):
            if team_id in teams:
                first = teams[team_id][0]
                line = doc.position(("teams", first, "id"))[0]
                problems.append(doc.problem(
                    ("teams", index, "id"),
                    f"duplicate team id {team_id!r} (first at teams[{first}], line {line})"))
            else:
                teams[team_id] = (index, team)
        problems += _team_problems(doc, index, team)

    problems += _application_problems(doc, data, teams, now)
    return problems


def _attribute_problems(doc: YamlDocument, provider: Any) -> list[Problem]:
    attributes = provider.get("attributes") if isinstance(provider, dict) else None
    if not isinstance(attributes, dict):
        return []
    names = {**AttributeNames().__dict__, **attributes}
    if names["user"] == names["team"]:
        return [doc.problem(("service_provider", "attributes"),
                            "the user and team attributes must have different names")]
    return []


def _application_problems(
    doc: YamlDocument,
    data: dict[str, Any],
    teams: dict[str, tuple[int, dict[str, Any]]],
    now: datetime | None,
) -> list[Problem]:
    problems: list[Problem] = []
    names: dict[str, int] = {}
    issuers: dict[str, int] = {}
    bound: dict[str, tuple[int, Any]] = {}  # team id -> (application index, name)
    check_teams = isinstance(data.get("teams"), list)
    for index, app in _entries(data, "applications"):
        for field, seen in (("name", names), ("issuer", issuers)):
            value = app.get(field)
            if not isinstance(value, str):
                continue
            if value in seen:
                line = doc.position(("applications", seen[value], field))[0]
                problems.append(doc.problem(
                    ("applications", index, field),
                    f"duplicate application {field} {value!r} "
                    f"(first at applications[{seen[value]}], line {line})"))
            else:
                seen[value] = index

        certificates = app.get("certificates")
        for number, pem in enumerate(certificates if isinstance(certificates, list) else []):
            if isinstance(pem, str):
                message = certificate_problem(pem, now)
                if message:
                    problems.append(doc.problem(("applications", index, "certificates", number),
                                                message))

        app_teams = app.get("teams")
        if not check_teams or not isinstance(app_teams, list):
            continue
        for number, team_id in enumerate(app_teams):
            if not isinstance(team_id, str):
                continue
            path = ("applications", index, "teams", number)
            if team_id not in teams:
                close = difflib.get_close_matches(team_id, list(teams), n=1)
                tip = f" (did you mean {close[0]!r}?)" if close else " (add it under teams)"
                problems.append(doc.problem(path, f"unknown team {team_id!r}{tip}"))
            elif team_id in bound:
                first_index, first_name = bound[team_id]
                if teams[team_id][1].get("shared_applications") is not True:
                    problems.append(doc.problem(
                        path,
                        f"team {team_id!r} is already bound to application {first_name!r} "
                        f"(applications[{first_index}]); set shared_applications: true on the "
                        "team if both applications may sign in to it"))
            else:
                bound[team_id] = (index, app.get("name"))

    if check_teams:
        for team_id, (index, _) in teams.items():
            if team_id not in bound:
                problems.append(doc.problem(
                    ("teams", index, "id"),
                    f"no application routes to team {team_id!r}: "
                    "add it to an application's teams, or remove the team"))
    return problems


def _team_problems(doc: YamlDocument, index: int, team: dict[str, Any]) -> Iterator[Problem]:
    team_id = team.get("id")
    account = team.get("account")
    region = team.get("region")

    role = team.get("execution_role")
    if isinstance(role, str) and role.startswith("arn:"):
        parts = role.split(":")
        if len(parts) >= 6 and isinstance(account, str) and parts[4] != account:
            yield doc.problem(
                ("teams", index, "execution_role"),
                f"the execution role is in account {parts[4]}, not the team's account "
                f"{account} (a team's profiles can only use a role of its own account)")
        if len(parts) >= 6 and isinstance(region, str) and parts[1] != partition(region):
            yield doc.problem(
                ("teams", index, "execution_role"),
                f"the role's partition {parts[1]} does not match region {region} "
                f"(partition {partition(region)})")

    tags = team.get("tags")
    if isinstance(tags, dict):
        for key, value in tags.items():
            path = ("teams", index, "tags", key)
            if key == TEAM_TAG and isinstance(team_id, str) and value != team_id:
                yield doc.problem(
                    path,
                    f"the Team tag is always the team id {team_id!r}, not {value!r} "
                    "(remove it: the broker adds it)")
            elif isinstance(key, str) and key != TEAM_TAG and key.lower() == TEAM_TAG.lower():
                yield doc.problem(path, f"tag key {key!r} differs from the reserved "
                                        f"{TEAM_TAG!r} only in case", key=True)
            elif isinstance(key, str) and key.lower() == USER_TAG.lower():
                yield doc.problem(path, f"tag key {key!r} is reserved: the broker tags each "
                                        f"profile {USER_TAG}=<the person>", key=True)

    cidrs = team.get("allowed_source_cidrs")
    for number, cidr in enumerate(cidrs if isinstance(cidrs, list) else []):
        if not isinstance(cidr, str):
            continue
        try:
            ipaddress.ip_network(cidr)
        except ValueError as exc:
            yield doc.problem(("teams", index, "allowed_source_cidrs", number),
                              f"not a network in CIDR form: {exc}")

    settings = team.get("user_settings")
    if isinstance(settings, dict):
        for key in settings:
            if isinstance(key, str) and key.lower() == "executionrole":
                yield doc.problem(
                    ("teams", index, "user_settings", key),
                    "ExecutionRole is set from the team's execution_role; remove it here",
                    key=True)


def partition(region: str) -> str:
    """The AWS partition of a region code."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def certificate_problem(pem: str, now: datetime | None) -> str | None:
    """Why ``pem`` cannot be trusted as an IdP signing certificate at ``now``, or ``None``.

    With ``now=None`` only the parse is judged, not the expiry.
    """
    error, not_after, certificate = _certificate_facts(pem)
    if error:
        return error
    assert not_after is not None and certificate is not None
    if now is not None and not_after <= now:
        # The subject only for the message: rendering it costs more than parsing.
        subject = certificate.subject.rfc4514_string()
        return (f"certificate {subject} expired on {not_after:%Y-%m-%d %H:%M} UTC; "
                "paste the application's current certificate from Identity Center")
    if now is not None and certificate.not_valid_before_utc > now:
        subject = certificate.subject.rfc4514_string()
        return (f"certificate {subject} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M}"
                " UTC (its notBefore): Identity Center dates a certificate from when it is made, so this "
                "is not the application's certificate or it was made on a wrong clock; paste the "
                "certificate from the application's metadata")
    return None


@functools.lru_cache(maxsize=4096)
def _certificate_facts(pem: str) -> tuple[str | None, datetime | None, Any]:
    """(error, not-valid-after, certificate) of one PEM certificate; parsed once per text."""
    # Imported here: only configuration loading needs it, not every import of this module.
    from cryptography import x509

    hint = "paste the PEM text with its BEGIN/END CERTIFICATE lines as a block scalar (|)"
    if pem.count(_PEM_BEGIN) != 1:
        return f"expected exactly one PEM certificate ({hint})", None, None
    try:
        certificate = x509.load_pem_x509_certificate(pem.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return f"not a valid PEM X.509 certificate ({hint})", None, None
    # Judged at run time too: a weak key must not be trusted even if CI was skipped.
    weak = _weak_key(certificate)
    if weak:
        return (f"certificate {certificate.subject.rfc4514_string()} has a signing key the broker "
                f"refuses ({weak}): only RSA keys of at least {MIN_RSA_BITS} bits and EC keys on "
                "P-256, P-384 or P-521 are trusted; make a new certificate for the application in "
                "Identity Center"), None, None
    return None, certificate.not_valid_after_utc, certificate


MIN_RSA_BITS = 2048
_EC_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def _weak_key(certificate: Any) -> str | None:
    """What is wrong with the certificate's key (``RSA 1024-bit``), or ``None`` when it is strong.

    RSA below 2048 bits and EC below P-256 fall short of NIST SP 800-57's 112-bit
    floor; DSA and the EdDSA curves cannot make the signatures the broker
    accepts (its signature profile allows RSA and ECDSA only).
    """
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa

    try:
        key = certificate.public_key()
    except (UnsupportedAlgorithm, ValueError):
        return "a key type the broker cannot read"
    if isinstance(key, rsa.RSAPublicKey):
        return None if key.key_size >= MIN_RSA_BITS else f"RSA {key.key_size}-bit"
    if isinstance(key, ec.EllipticCurvePublicKey):
        name = key.curve.name
        return None if name in _EC_CURVES else f"EC {name}"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}-bit"
    return type(key).__name__.removesuffix("PublicKey").lstrip("_")


# --- typed objects -----------------------------------------------------------------------------


def build_routing_table(document: YamlDocument) -> RoutingTable:
    """Typed, immutable objects from a document that passed :func:`routing_problems`."""
    data = document.data
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
            teams=frozenset(entry["teams"]),
        )
    return RoutingTable(
        source=document.source,
        service_provider=service_provider,
        applications=MappingProxyType(applications),
        teams=MappingProxyType(teams),
        spoke_access=shared_access,
        support=support,
    )


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
        role = f"arn:{partition(entry['region'])}:iam::{account}:role/{role}"
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
        **{name: entry[name] for name in _TEAM_FIELDS if name in entry},
    )
