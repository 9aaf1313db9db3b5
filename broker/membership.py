"""Who is in which team, from the IAM Identity Center identity store.

:class:`MembershipResolver` turns a signed user id (the ``userid`` attribute,
see docs/security.md) into a :class:`Membership`: whether that person exists
in the Identity Store, and the groups they are a direct member of (group id
and display name). ``routing.yaml``'s ``identity_store.user_attribute`` says
what the user id is there:

- ``user_id`` (default): the Identity Store ``UserId`` itself, which
  ``${user:subject}`` carries: one DescribeUser;
- ``userName`` or ``emails.value``: one GetUserId with that unique attribute
  (the only two GetUserId accepts).

Then ListGroupMembershipsForMember (every page), and DescribeGroup for each
group id not yet known (display names change rarely: they are cached as
long as memberships). Every call goes through :class:`broker.aws.AwsClients`,
signed with a session of ``identity_store.role_arn`` (the read-only role in
the Identity Center account) that is kept until shortly before it expires,
and bounded by the caller's deadline (:func:`broker.aws.within_deadline`).

Answers are cached per container for :data:`CACHE_SECONDS` (bounded:
:data:`MAX_CACHED` people, least recently used dropped first), so a picker
sign-in and its choice a few seconds later cost one lookup. A person removed
from a group keeps the team for at most that long in a warm container.

Failures are typed (:mod:`broker.exceptions`), all ``IdentityStoreUnavailable``:
``IdentityStoreThrottled`` (ThrottlingException after botocore's retries),
``IdentityStoreUnreachable`` (no answer: network, timeout, deadline, 5xx) and
``IdentityStoreRefused`` (denied, the role cannot be assumed, or a value the
store rejects, e.g. ValidationException for a user id that cannot be a
UserId; ``code`` says which). Only ResourceNotFoundException means "no such
person". Nothing is cached from a failure.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from broker.aws import AwsClients, session_credentials
from broker.config import IdentityStoreRef, RoutingTable, Team
from broker.exceptions import (
    IdentityStoreRefused,
    IdentityStoreThrottled,
    IdentityStoreUnavailable,
    IdentityStoreUnreachable,
)

CACHE_SECONDS = 60.0
MAX_CACHED = 10_000
ROLE_SESSION_NAME = "studio-broker-membership"
REFRESH_MARGIN_SECONDS = 300
_THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException"})
_NOT_FOUND = "ResourceNotFoundException"


@dataclass(frozen=True)
class Group:
    """One Identity Center group the person is a direct member of."""

    group_id: str
    display_name: str | None


@dataclass(frozen=True)
class Membership:
    """What the Identity Store says about one signed user id."""

    user_id: str  # the signed user id, as the broker uses it
    store_user_id: str | None  # the Identity Store UserId; None: no such person
    groups: frozenset[Group]

    @property
    def exists(self) -> bool:
        """Whether the person is (still) in the Identity Store."""
        return self.store_user_id is not None

    def in_any(self, names_or_ids: Iterable[str]) -> bool:
        """Whether the person is in one of these groups (display names or group ids)."""
        wanted = set(names_or_ids)
        return any(g.group_id in wanted or (g.display_name is not None and g.display_name in wanted)
                   for g in self.groups)

    def is_member_of(self, team: Team) -> bool:
        """Whether the person belongs to ``team`` by its ``groups`` (a team without groups: no)."""
        return bool(team.groups) and self.in_any(team.groups)


def teams_of(membership: Membership, table: RoutingTable) -> list[Team]:
    """The teams of ``table`` (enabled or not) whose groups the person is in, sorted by id."""
    return sorted((t for t in table.teams.values() if membership.is_member_of(t)), key=lambda t: t.id)


@dataclass(frozen=True)
class _Cached:
    membership: Membership
    fresh_until: float


class MembershipResolver:
    """Signed user id -> :class:`Membership`, through the Identity Store, cached per container."""

    def __init__(
        self,
        clients: AwsClients,
        store: IdentityStoreRef,
        *,
        ttl_seconds: float = CACHE_SECONDS,
        max_cached: int = MAX_CACHED,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._clients = clients
        self.store = store
        self._ttl = ttl_seconds
        self._max_cached = max_cached
        self._clock = clock
        self._wall_clock = wall_clock
        self._cache: OrderedDict[str, _Cached] = OrderedDict()
        self._group_names: OrderedDict[str, tuple[str | None, float]] = OrderedDict()
        self._credentials: tuple[Credentials, float] | None = None
        self._lock = threading.Lock()

    def membership(self, user_id: str) -> Membership:
        """The person's existence and groups; from the cache when fresh, else from the Identity Store."""
        if not user_id:
            raise ValueError("a membership lookup needs a user id")
        now = self._clock()
        with self._lock:
            cached = self._cache.get(user_id)
            if cached is not None and now < cached.fresh_until:
                self._cache.move_to_end(user_id)
                return cached.membership
        membership = self._lookup(user_id)
        with self._lock:
            self._cache.pop(user_id, None)
            self._cache[user_id] = _Cached(membership, self._clock() + self._ttl)
            while len(self._cache) > self._max_cached:
                self._cache.popitem(last=False)
        return membership

    def teams(self, user_id: str, table: RoutingTable) -> list[Team]:
        """The teams of ``table`` whose groups ``user_id`` is in (what a picker lists)."""
        return teams_of(self.membership(user_id), table)

    def forget(self, user_id: str) -> None:
        """Drop one person's cached answer (a choice must be checked against a fresh one)."""
        with self._lock:
            self._cache.pop(user_id, None)

    def clear(self) -> None:
        """Forget every cached answer and the role session (tests, or a forced refresh)."""
        with self._lock:
            self._cache.clear()
            self._group_names.clear()
            self._credentials = None

    def __len__(self) -> int:
        return len(self._cache)

    # --- the Identity Store calls -------------------------------------------------------------

    def _lookup(self, user_id: str) -> Membership:
        client = self._client()
        store_user_id = self._store_user_id(client, user_id)
        if store_user_id is None:
            return Membership(user_id, None, frozenset())
        pages = _call(lambda: list(client.get_paginator("list_group_memberships_for_member").paginate(
            IdentityStoreId=self.store.identity_store_id, MemberId={"UserId": store_user_id})),
            "ListGroupMembershipsForMember")
        group_ids = sorted({m["GroupId"] for page in pages for m in page.get("GroupMemberships", [])})
        return Membership(user_id, store_user_id,
                          frozenset(Group(g, self._group_name(client, g)) for g in group_ids))

    def _store_user_id(self, client: Any, user_id: str) -> str | None:
        store = self.store.identity_store_id
        try:
            if self.store.user_attribute == "user_id":
                return str(client.describe_user(IdentityStoreId=store, UserId=user_id)["UserId"])
            return str(client.get_user_id(IdentityStoreId=store, AlternateIdentifier={"UniqueAttribute": {
                "AttributePath": self.store.user_attribute, "AttributeValue": user_id}})["UserId"])
        except ClientError as error:
            if _code(error) == _NOT_FOUND:
                return None
            raise _failure(error, "DescribeUser" if self.store.user_attribute == "user_id"
                           else "GetUserId") from error
        except BotoCoreError as error:
            raise IdentityStoreUnreachable(f"identity_store_unreachable:{type(error).__name__}") from error

    def _group_name(self, client: Any, group_id: str) -> str | None:
        now = self._clock()
        with self._lock:
            known = self._group_names.get(group_id)
            if known is not None and now < known[1]:
                return known[0]
        try:
            name: str | None = client.describe_group(
                IdentityStoreId=self.store.identity_store_id, GroupId=group_id).get("DisplayName")
        except ClientError as error:
            if _code(error) != _NOT_FOUND:
                raise _failure(error, "DescribeGroup") from error
            name = None  # deleted between the two calls: matched by id only
        except BotoCoreError as error:
            raise IdentityStoreUnreachable(f"identity_store_unreachable:{type(error).__name__}") from error
        with self._lock:
            self._group_names.pop(group_id, None)
            self._group_names[group_id] = (name, now + self._ttl)
            while len(self._group_names) > self._max_cached:
                self._group_names.popitem(last=False)
        return name

    def _client(self) -> Any:
        with self._lock:
            held = self._credentials
        if held is None or self._wall_clock() >= held[1]:
            held = self._assume_role()
            with self._lock:
                self._credentials = held
        return self._clients.acting("identitystore", self.store.region, held[0])

    def _assume_role(self) -> tuple[Credentials, float]:
        sts = self._clients.hub("sts", self.store.region)
        try:
            issued = sts.assume_role(RoleArn=self.store.role_arn, RoleSessionName=ROLE_SESSION_NAME,
                                     ExternalId=self.store.external_id)["Credentials"]
        except ClientError as error:
            raise _failure(error, "AssumeRole") from error
        except BotoCoreError as error:
            raise IdentityStoreUnreachable(
                f"identity_store_role_unreachable:{type(error).__name__}") from error
        credentials = session_credentials(
            issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])
        return credentials, issued["Expiration"].timestamp() - REFRESH_MARGIN_SECONDS


def _call(call: Callable[[], Any], operation: str) -> Any:
    try:
        return call()
    except ClientError as error:
        raise _failure(error, operation) from error
    except BotoCoreError as error:
        raise IdentityStoreUnreachable(f"identity_store_unreachable:{type(error).__name__}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")


def _failure(error: ClientError, operation: str) -> IdentityStoreUnavailable:
    code = re.sub(r"[^A-Za-z0-9_.]", "_", _code(error))[:64]
    if code in _THROTTLED:
        return IdentityStoreThrottled(f"identity_store_throttled:{operation}")
    status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    if status >= 500:
        return IdentityStoreUnreachable(f"identity_store_unreachable:{operation}:{code}")
    return IdentityStoreRefused(f"identity_store_refused:{operation}:{code}", code)
