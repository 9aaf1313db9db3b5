"""Typed, immutable configuration: the service provider, trusted IdP applications, teams.

These objects are built once per container by :mod:`broker.routing` from
``routing.yaml`` and then only read. Nothing here talks to AWS or parses files.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from broker.arns import role_arn


def frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Return a read-only deep copy of a JSON-like mapping."""

    def freeze(item: Any) -> Any:
        if isinstance(item, Mapping):
            return MappingProxyType({k: freeze(v) for k, v in item.items()})
        if isinstance(item, list | tuple):
            return tuple(freeze(v) for v in item)
        return item

    return freeze(dict(value or {}))


def thaw(item: Any) -> Any:
    """Turn a frozen mapping back into plain dicts and lists (for boto3 parameters)."""
    if isinstance(item, Mapping):
        return {k: thaw(v) for k, v in item.items()}
    if isinstance(item, tuple):
        return [thaw(v) for v in item]
    return item


@dataclass(frozen=True)
class AttributeNames:
    """Names of the SAML attributes that carry the person and the team."""

    user: str = "userid"
    team: str = "teamid"


@dataclass(frozen=True)
class ServiceProvider:
    """This broker as a SAML service provider.

    ``acs_url`` is the exact public URL of ``POST /saml/acs``: Destination and
    Recipient are compared with it, never with the request's Host header.
    """

    entity_id: str
    acs_url: str
    clock_skew_seconds: int = 60
    max_assertion_age_seconds: int = 300
    max_body_bytes: int = 256 * 1024
    attributes: AttributeNames = field(default_factory=AttributeNames)


@dataclass(frozen=True)
class IdpApplication:
    """One trusted IdP application (one Identity Center custom SAML app).

    ``certificates`` holds one or more PEM certificates: two during a rotation.
    ``teams`` lists the teams this application may route to. With
    ``by_membership`` (routing.yaml ``teams_from: membership``) ``teams`` is empty:
    the application routes to the teams whose groups the signed person is in,
    as the Identity Store says at sign-in, and its assertions' team attribute is
    not read.
    """

    name: str
    issuer: str
    certificates: tuple[str, ...]
    teams: frozenset[str]
    by_membership: bool = False


@dataclass(frozen=True)
class DomainRef:
    """A SageMaker domain given by id, or by name to resolve in the spoke."""

    domain_id: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.domain_id is None) == (self.name is None):
            raise ValueError("a domain is given by exactly one of id or name")

    def __str__(self) -> str:
        return self.domain_id or f"name:{self.name}"


@dataclass(frozen=True)
class SpokeAccess:
    """How the broker reaches a spoke: the broker-access role and its ExternalId."""

    role_name: str = "StudioBrokerAccess"
    external_id: str = ""
    session_duration_seconds: int = 3600

    def role_arn(self, account_id: str, region: str) -> str:
        """ARN of the broker-access role in ``account_id``, in ``region``'s partition."""
        return role_arn(region, account_id, self.role_name)


# How the signed user id names a person in the Identity Store (routing.yaml identity_store.user_attribute).
USER_ID_ATTRIBUTES = ("user_id", "userName", "emails.value")


@dataclass(frozen=True)
class DeployedDomain:
    """A domain the rollout makes (accounts/), whether or not a team routes to it now."""

    account_id: str
    region: str
    name: str


@dataclass(frozen=True)
class IdentityStoreRef:
    """Where people and groups are: an IAM Identity Center identity store, read through a role.

    ``role_arn`` is the read-only role in the Identity Center account (or its
    delegated administrator) that the hub assumes. ``user_attribute`` says what
    the signed user id is there: ``user_id`` (the Identity Store UserId itself,
    what ``${user:subject}`` carries), or ``userName`` / ``emails.value``
    (looked up with GetUserId).
    """

    identity_store_id: str
    region: str
    role_arn: str
    external_id: str
    user_attribute: str = "user_id"

    def __post_init__(self) -> None:
        if self.user_attribute not in USER_ID_ATTRIBUTES:
            raise ValueError(f"user_attribute must be one of {USER_ID_ATTRIBUTES}")


@dataclass(frozen=True)
class Support:
    """Where a person turns when a page is not a straight redirect (all optional).

    ``portal_url``: the access portal (IAM Identity Center's start URL);
    ``contact``: who to ask, in plain words (a team, a channel, an address);
    ``request_access_url``: where to ask for access to a team.
    """

    portal_url: str | None = None
    contact: str | None = None
    request_access_url: str | None = None

    def over(self, defaults: Support) -> Support:
        """These fields where set, ``defaults`` for the rest (a team's override of the table's)."""
        return Support(
            portal_url=self.portal_url or defaults.portal_url,
            contact=self.contact or defaults.contact,
            request_access_url=self.request_access_url or defaults.request_access_url,
        )


@dataclass(frozen=True)
class Team:
    """One routed team: where its members' Studio profiles live and how they are made."""

    id: str
    account_id: str
    region: str
    domain: DomainRef
    execution_role_arn: str
    tags: Mapping[str, str]
    user_settings: Mapping[str, Any]
    session_expiration_seconds: int = 43200
    presigned_url_expiry_seconds: int = 60
    landing_uri: str | None = None
    space_name: str | None = None
    enabled: bool = True
    disabled_message: str | None = None
    spoke_access: SpokeAccess = field(default_factory=SpokeAccess)
    # Empty: any source address. Otherwise sign-ins only from these networks (IPv4/IPv6 CIDRs).
    allowed_source_cidrs: tuple[str, ...] = ()
    # Identity Center groups (display names or group ids) whose members belong to the team;
    # empty: membership is not kept in the Identity Store.
    groups: tuple[str, ...] = ()
    # How pages name the team; the id when unset.
    display_name: str | None = None
    # The table's support with this team's overrides applied.
    support: Support = field(default_factory=Support)

    @property
    def label(self) -> str:
        """The team as a person knows it: its display name, else its id."""
        return self.display_name or self.id

    @property
    def broker_role_arn(self) -> str:
        """The broker-access role this team's sign-ins assume."""
        return self.spoke_access.role_arn(self.account_id, self.region)

    def allows_source(self, source_ip: str | None) -> bool:
        """Whether a sign-in from ``source_ip`` may proceed; an unknown address fails closed."""
        if not self.allowed_source_cidrs:
            return True
        try:
            address = ipaddress.ip_address(source_ip or "")
        except ValueError:
            return False
        return any(address in ipaddress.ip_network(cidr) for cidr in self.allowed_source_cidrs)


@dataclass(frozen=True)
class RoutingTable:
    """The whole routing configuration with O(1) lookups by issuer and by team id."""

    source: str
    service_provider: ServiceProvider
    applications: Mapping[str, IdpApplication]  # by issuer
    teams: Mapping[str, Team]  # by team id
    spoke_access: SpokeAccess = SpokeAccess()  # the table-wide defaults, before any team's override
    digest: str = ""  # SHA-256 of the routing.yaml it was compiled from (the hub's RoutingDigest)
    identity_store: IdentityStoreRef | None = None  # None: no membership from the Identity Store
    support: Support = Support()  # for pages that cannot name a team
    # Every domain of the account registry, routed or not: reconcile surveys them too, so the
    # profiles of a team that left the table are found in the domain it left behind.
    deployed_domains: tuple[DeployedDomain, ...] = ()

    def support_for(self, team: Team | None) -> Support:
        """The support a page shows: the team's when a verified sign-in named one, else the table's."""
        return team.support if team is not None else self.support

    def team(self, team_id: str) -> Team | None:
        """The team with this exact id, if any."""
        return self.teams.get(team_id)
