"""The routing table as people write it: ``routing.yaml`` read, judged and compiled.

The operator path (``broker routing validate``, plan, rollout, doctor, the local
stack, packaging). Three stages, all problems of all stages reported together,
each as ``file:line:column: field.path: message``:

1. YAML (:mod:`broker.ops.yamldoc`): syntax, duplicate keys, input bounds;
2. JSON Schema (``broker/schemas/routing.schema.json``, jsonschema): shapes,
   patterns, ranges, unknown fields;
3. semantics (here): cross-references between teams and applications, execution
   role account, the reserved ``Team`` tag and ``ExecutionRole`` setting, and the
   IdP certificates (PEM X.509, strong keys, within their validity).

A team that no application routes to is an error, not a warning: such an entry
can never be used, and the usual cause is a typo in an application's ``teams``.

:func:`compile_routing_file` turns a table that passed into the JSON the Lambda
loads (:func:`broker.routing.load_compiled_table`).
"""

from __future__ import annotations

import difflib
import functools
import ipaddress
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from broker.arns import partition
from broker.config import AttributeNames, DeployedDomain, RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops.hub_parameters import routing_digest
from broker.ops.schema_problems import schema_problems
from broker.ops.yamldoc import Problem, YamlDocument, parse_yaml_with_problems, raise_problems, read_text
from broker.routing import TEAM_TAG, USER_TAG, build_routing_table, compiled_document

_PEM_BEGIN = "-----BEGIN CERTIFICATE-----"


@functools.cache
def routing_schema() -> dict[str, Any]:
    """The routing table's JSON Schema (shipped as package data)."""
    text = resources.files("broker").joinpath("schemas/routing.schema.json").read_text("utf-8")
    return json.loads(text)


@functools.cache
def routing_validator() -> Draft202012Validator:
    """The schema's validator, built once per process."""
    return Draft202012Validator(routing_schema())


def compile_routing_file(path: str | Path, *, now: datetime | None = None,
                         deployed: tuple[DeployedDomain, ...] = ()) -> str:
    """The compiled JSON of the routing table in ``path``, judged as ``load_routing_table`` judges
    it (expiry included: a table CI would refuse is not packaged), with the account registry's
    domains ``deployed`` (the reconcile job surveys them).

    Raises :class:`ConfigurationError` listing every problem.
    """
    text = read_text(path, str(path))
    document, problems = parse_yaml_with_problems(text, str(path))
    if document is not None:
        problems += routing_problems(document, now=now)
    raise_problems(problems)
    assert document is not None
    build_routing_table(document.data, str(path))  # what the Lambda will build, built once here
    compiled = compiled_document(document.data, Path(path).name, routing_digest(text.encode("utf-8")),
                                 deployed)
    try:
        return json.dumps(compiled, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:  # a date or NaN where the schema allows any value
        raise ConfigurationError([f"{path}:1:1: a value JSON cannot carry ({exc}): quote it"]) from exc


def load_routing_table(
    path: str | Path, *, now: datetime | None = None, check_expiry: bool = True
) -> RoutingTable:
    """Read, validate and build the routing table in ``path``.

    ``now`` (default: the current time) decides which certificates have expired;
    with ``check_expiry=False`` expiry is not judged (the runtime: a certificate
    that expires while deployed must not stop every team's sign-ins; CI refuses it).
    Raises :class:`ConfigurationError` listing every problem.
    """
    text = read_text(path, str(path))
    return parse_routing_table(text, str(path), now=now, check_expiry=check_expiry)


def parse_routing_table(
    text: str, source: str, *, now: datetime | None = None, check_expiry: bool = True
) -> RoutingTable:
    """Validate and build a routing table from YAML ``text``; ``source`` names it in messages."""
    document, problems = parse_yaml_with_problems(text, source)
    if document is not None:
        problems += routing_problems(document, now=now, check_expiry=check_expiry)
    raise_problems(problems)
    assert document is not None  # no problems means a document was built
    return build_routing_table(document.data, source, routing_digest(text.encode("utf-8")))


def routing_problems(
    document: YamlDocument, *, now: datetime | None = None, check_expiry: bool = True
) -> list[Problem]:
    """Schema and semantic problems of a parsed routing document (empty when valid)."""
    schema, semantic = staged_problems(document, now=now, check_expiry=check_expiry)
    return schema + semantic


def staged_problems(
    document: YamlDocument, *, now: datetime | None = None, check_expiry: bool = True
) -> tuple[list[Problem], list[Problem]]:
    """:func:`routing_problems` as (the JSON Schema's, the semantic checks')."""
    if document.data is None:
        return [], [document.problem((), "the routing table is empty")]
    schema = schema_problems(document, routing_validator())
    return schema, _semantic_problems(document, (now or datetime.now(UTC)) if check_expiry else None)


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
    problems += _membership_problems(doc, data)
    return problems


def _membership_problems(doc: YamlDocument, data: dict[str, Any]) -> list[Problem]:
    """Team groups are read from the Identity Store: one must be configured."""
    if isinstance(data.get("identity_store"), dict):
        return []
    return [doc.problem(("teams", index, "groups"),
                        "groups are read from the Identity Store: add identity_store (id, region, "
                        "role_arn, external_id) at the top of the table")
            for index, team in _entries(data, "teams") if team.get("groups")]


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
    by_membership = False  # an application routes to every team with groups
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

        problems += _teams_source_problems(doc, data, index, app, teams)
        if app.get("teams_from") == "membership":
            by_membership = True
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
        for team_id, (index, team) in teams.items():
            if team_id not in bound and not (by_membership and team.get("groups")):
                problems.append(doc.problem(
                    ("teams", index, "id"),
                    f"no application routes to team {team_id!r}: "
                    "add it to an application's teams, or remove the team"))
    return problems


def _teams_source_problems(doc: YamlDocument, data: dict[str, Any], index: int, app: dict[str, Any],
                           teams: dict[str, tuple[int, dict[str, Any]]]) -> list[Problem]:
    """Exactly one of ``teams`` and ``teams_from``; membership needs a store and teams with groups."""
    has_list, from_membership = "teams" in app, app.get("teams_from") == "membership"
    if has_list == ("teams_from" in app):
        return [doc.problem(("applications", index), "an application needs exactly one of teams "
                            "(a list of team ids) or teams_from: membership")]
    if not from_membership:
        return []
    if not isinstance(data.get("identity_store"), dict):
        return [doc.problem(("applications", index, "teams_from"),
                            "an application with teams_from: membership reads the Identity Store: "
                            "add identity_store (id, region, role_arn, external_id) at the top of "
                            "the table")]
    if teams and not any(team.get("groups") for _, team in teams.values()):
        return [doc.problem(("applications", index, "teams_from"),
                            "an application with teams_from: membership routes only to teams with "
                            "groups, and no team has groups: add groups to the teams it serves")]
    return []


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
