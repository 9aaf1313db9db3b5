"""Sessions in spoke accounts: AssumeRole into a team's broker-access role, per person.

The session names the person (SourceIdentity, RoleSessionName and a ``User``
session tag), so CloudTrail in the spoke attributes every call to whoever
signed in, and it names the team and the person's profile there (``Team`` and
``Profile`` tags), so the broker-access role's policy can bind every call to
that one profile. That is why credentials are cached per (account, role, user,
team) and never shared between people: a shared session would make one
person's actions look like another's. The botocore clients are shared: each
call is signed with its person's credentials (:class:`broker.aws.ActingClient`).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import unicodedata
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, ClientError

from broker.aws import ActingClient, AwsClients, session_credentials
from broker.config import Team
from broker.exceptions import SpokeFailure
from broker.profile_name import profile_name_for

# Marks a value that had to be changed: it is never kept in a verbatim value,
# so a changed value and an unchanged one can never be equal.
HASH_MARKER = "="
HASH_HEX_CHARS = 20  # 80 bits: no one can craft a second id with the same suffix

IDENTITY_MIN, IDENTITY_MAX = 2, 64  # SourceIdentity and RoleSessionName
TAG_VALUE_MIN, TAG_VALUE_MAX = 1, 256

# AWS writes [\w+=,.@-]; its \w is Java's, that is ASCII only.
_IDENTITY_CHAR = re.compile(r"[A-Za-z0-9_+=,.@-]")
_TAG_VALUE_PUNCTUATION = frozenset("_.:/=+-@")
_ERROR_CODE = re.compile(r"[^A-Za-z0-9_.]")

CacheKey = tuple[str, str, str, str]


def _is_identity_char(char: str) -> bool:
    return bool(_IDENTITY_CHAR.fullmatch(char))


def _is_tag_value_char(char: str) -> bool:
    # AWS: [\p{L}\p{Z}\p{N}_.:/=+\-@]. Only the space separators of \p{Z}: line and
    # paragraph separators are legal there but have no place in a name.
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Zs" or char in _TAG_VALUE_PUNCTUATION


def _sanitise(value: str, allowed: Callable[[str], bool], min_len: int, max_len: int) -> str:
    """``value`` itself when it is legal, else a legal stand-in ending in a hash of it."""
    if min_len <= len(value) <= max_len and all(
        allowed(c) and c != HASH_MARKER for c in value
    ):
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_HEX_CHARS]
    kept = "".join(c if allowed(c) and c != HASH_MARKER else "_" for c in value)
    return kept[: max_len - len(HASH_MARKER) - HASH_HEX_CHARS] + HASH_MARKER + digest


def source_identity(user_id: str) -> str:
    """The SourceIdentity (and RoleSessionName) naming ``user_id``: legal, and distinct per id."""
    return _sanitise(user_id, _is_identity_char, IDENTITY_MIN, IDENTITY_MAX)


def tag_value(value: str) -> str:
    """A legal STS session-tag value for ``value``, distinct per input."""
    return _sanitise(value, _is_tag_value_char, TAG_VALUE_MIN, TAG_VALUE_MAX)


@dataclass(frozen=True)
class _Session:
    credentials: Credentials = field(repr=False)
    refresh_at: float


class SpokeSessions:
    """Per-person AssumeRole sessions into spoke accounts, cached per container.

    Only the credentials are kept per person (about a kilobyte each); the
    clients that use them are shared per (service, region), see :mod:`broker.aws`.
    """

    def __init__(
        self,
        clients: AwsClients,
        clock: Callable[[], float] = time.time,
        refresh_margin_seconds: int = 300,
        max_cached: int = 10000,
    ) -> None:
        self._clients = clients
        self._clock = clock
        self._margin = refresh_margin_seconds
        self._max_cached = max_cached
        self._sessions: OrderedDict[CacheKey, _Session] = OrderedDict()
        self._lock = threading.Lock()

    def client(self, team: Team, service: str, user_id: str) -> ActingClient:
        """A ``service`` client in the team's spoke account and region, acting as ``user_id``."""
        if not user_id:
            raise ValueError("a spoke session needs a user id")
        key: CacheKey = (team.account_id, team.broker_role_arn, user_id, team.id)
        with self._lock:
            credentials = self._fresh(key)
        if credentials is None:
            # AssumeRole outside the lock: one slow spoke must not stall other sign-ins.
            session = self._assume_role(team, user_id)
            with self._lock:
                credentials = self._fresh(key)
                if credentials is None:  # else another thread won the race; ours goes unused
                    self._store(key, session)
                    credentials = session.credentials
        return self._clients.acting(service, team.region, credentials)

    def cached_client(self, team: Team, service: str, user_id: str) -> ActingClient | None:
        """Like :meth:`client` when the person's session is held and fresh; else ``None``, no call."""
        with self._lock:
            credentials = self._fresh((team.account_id, team.broker_role_arn, user_id, team.id))
        return None if credentials is None else self._clients.acting(service, team.region, credentials)

    def clear(self) -> None:
        """Drop every cached session (tests, or a forced refresh)."""
        with self._lock:
            self._sessions.clear()

    def __len__(self) -> int:
        return len(self._sessions)

    def _fresh(self, key: CacheKey) -> Credentials | None:
        session = self._sessions.get(key)
        if session is None or self._clock() >= session.refresh_at:
            return None
        self._sessions.move_to_end(key)
        return session.credentials

    def _store(self, key: CacheKey, session: _Session) -> None:
        self._sessions.pop(key, None)
        self._sessions[key] = session
        while len(self._sessions) > self._max_cached:
            self._sessions.popitem(last=False)

    def _assume_role(self, team: Team, user_id: str) -> _Session:
        identity = source_identity(user_id)
        params: dict[str, Any] = {
            "RoleArn": team.broker_role_arn,
            "RoleSessionName": identity,
            "SourceIdentity": identity,
            "DurationSeconds": team.spoke_access.session_duration_seconds,
            "Tags": [
                {"Key": "User", "Value": tag_value(user_id)},
                {"Key": "Team", "Value": tag_value(team.id)},
                # verbatim: a profile name ([a-zA-Z0-9-], at most 63) is always a legal
                # tag value, and the policy compares it with the profile's ARN
                {"Key": "Profile", "Value": profile_name_for(user_id, team.id)},
            ],
        }
        if team.spoke_access.external_id:  # AWS refuses an empty ExternalId
            params["ExternalId"] = team.spoke_access.external_id
        sts = self._clients.hub("sts", team.region)
        try:
            response = sts.assume_role(**params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
            raise SpokeFailure(reason=f"assume_role_failed:{_safe_code(code)}") from exc
        except BotoCoreError as exc:
            raise SpokeFailure(reason=f"assume_role_failed:{type(exc).__name__}") from exc
        issued = response["Credentials"]
        return _Session(
            credentials=session_credentials(
                issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"]),
            refresh_at=issued["Expiration"].timestamp() - self._margin,
        )


def _safe_code(code: str) -> str:
    """An error code fit for a log line and a metric dimension."""
    return _ERROR_CODE.sub("_", code)[:64]
