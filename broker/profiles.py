"""User profiles in the team's domain, and the presigned Studio URL.

``ensure`` makes sure the (user, team) profile exists and is InService, doing
the least work: a per-container cache remembers profiles already seen
InService, so a warm login goes straight to presign. Creation is race-safe
(ResourceInUse means another sign-in created it first: use it). A profile that
is not ready within ``wait_seconds`` is reported as pending, so the caller can
answer a holding page instead of running into API Gateway's 29 s limit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from broker.config import Team, thaw
from broker.exceptions import ProfileGone, ProfileNotReady, SpokeFailure
from broker.profile_name import profile_name_for
from broker.spokes import SpokeSessions, tag_value

_WAITING_STATES = frozenset({"Pending", "Updating"})
_NOT_FOUND_CODES = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
# What a presign refusal says about the profile itself: gone, or no longer InService
# (SageMaker answers ValidationException for a profile in another state). Anything
# else (throttling, a 5xx, a timeout) says nothing about it: the profile stays known,
# so the next sign-in does not add a describe to a spoke that is already struggling.
_PROFILE_NOT_USABLE_CODES = _NOT_FOUND_CODES | {"ValidationException"}


@dataclass(frozen=True)
class ProfileRef:
    """Where a person's profile for a team lives."""

    account_id: str
    region: str
    domain_id: str
    name: str


@dataclass(frozen=True)
class ProfileStatus:
    """The outcome of ``ensure``: the profile, and whether it is ready for presign."""

    profile: ProfileRef
    ready: bool


class ProfileService:
    """Finds or creates user profiles in spokes and presigns Studio URLs for them."""

    def __init__(
        self,
        spokes: SpokeSessions,
        *,
        wait_seconds: float = 8.0,
        poll_seconds: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.spokes = spokes
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.clock = clock
        self.sleep = sleep
        self._in_service: set[ProfileRef] = set()
        self._domain_ids: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget every cached fact (tests, or after an operator changed a spoke)."""
        with self._lock:
            self._in_service.clear()
            self._domain_ids.clear()

    def ensure(self, team: Team, user_id: str, *, wait_seconds: float | None = None) -> ProfileStatus:
        """Make sure ``user_id``'s profile for ``team`` exists; say whether it is InService."""
        sagemaker = self._sagemaker(team, user_id)
        profile = ProfileRef(
            team.account_id, team.region, self._domain_id(team, sagemaker),
            profile_name_for(user_id, team.id),
        )
        if profile in self._in_service:
            return ProfileStatus(profile, ready=True)
        described = self._describe(sagemaker, profile)
        if described is None:
            self._create(sagemaker, team, user_id, profile)
            described = self._describe(sagemaker, profile)
        deadline = self.clock() + (self.wait_seconds if wait_seconds is None else wait_seconds)
        # Not found right after a create (read-after-write lag) counts as still pending.
        while described is None or described["Status"] in _WAITING_STATES:
            if self.clock() + self.poll_seconds > deadline:
                return ProfileStatus(profile, ready=False)
            self.sleep(self.poll_seconds)
            described = self._describe(sagemaker, profile)
        self._check_usable(described, team)
        with self._lock:
            self._in_service.add(profile)
        return ProfileStatus(profile, ready=True)

    def presign_if_known(self, team: Team, user_id: str) -> tuple[ProfileRef, str] | None:
        """The profile and its presigned URL when presign is the only call needed: the profile
        known InService here and the person's spoke session held. ``None``, with no AWS call
        made, when anything else would have to be asked first. Raises as :meth:`presigned_url`.
        """
        sagemaker = self.spokes.cached_client(team, "sagemaker", user_id)
        domain_id = team.domain.domain_id or self._domain_ids.get(
            (team.account_id, team.region, team.domain.name or ""))
        if sagemaker is None or not domain_id:
            return None
        profile = ProfileRef(team.account_id, team.region, domain_id,
                             profile_name_for(user_id, team.id))
        if profile not in self._in_service:
            return None
        return profile, self._presign(sagemaker, team, profile)

    def presigned_url(self, team: Team, user_id: str, profile: ProfileRef) -> str:
        """CreatePresignedDomainUrl for a ready profile; forgets it when the spoke says it is gone
        or not InService, never on throttling or an outage."""
        return self._presign(self._sagemaker(team, user_id), team, profile)

    def _presign(self, sagemaker: Any, team: Team, profile: ProfileRef) -> str:
        params: dict[str, Any] = {
            "DomainId": profile.domain_id,
            "UserProfileName": profile.name,
            "SessionExpirationDurationInSeconds": team.session_expiration_seconds,
            "ExpiresInSeconds": team.presigned_url_expiry_seconds,
        }
        if team.landing_uri:
            params["LandingUri"] = team.landing_uri
        if team.space_name:
            params["SpaceName"] = team.space_name
        try:
            return sagemaker.create_presigned_domain_url(**params)["AuthorizedUrl"]
        except ClientError as error:
            code = _code(error)
            if code in _PROFILE_NOT_USABLE_CODES:
                self.forget(profile)
            if code in _NOT_FOUND_CODES:
                raise ProfileGone("profile_gone_at_presign") from error
            raise SpokeFailure(f"presign_failed:{code}") from error
        except BotoCoreError as error:
            raise SpokeFailure(f"presign_failed:{type(error).__name__}") from error

    def forget(self, profile: ProfileRef) -> None:
        """Drop a profile from the InService cache (it may have been deleted)."""
        with self._lock:
            self._in_service.discard(profile)

    def _sagemaker(self, team: Team, user_id: str) -> Any:
        return self.spokes.client(team, "sagemaker", user_id)

    def _domain_id(self, team: Team, sagemaker: Any) -> str:
        if team.domain.domain_id:
            return team.domain.domain_id
        key = (team.account_id, team.region, team.domain.name or "")
        cached = self._domain_ids.get(key)
        if cached:
            return cached
        found = [
            domain["DomainId"]
            for page in _call(sagemaker.get_paginator("list_domains").paginate, "list_domains")
            for domain in page.get("Domains", [])
            if domain.get("DomainName") == team.domain.name
        ]
        if len(found) != 1:
            raise SpokeFailure(f"domain_name_resolved_to_{len(found)}_domains")
        with self._lock:
            self._domain_ids[key] = found[0]
        return found[0]

    def _describe(self, sagemaker: Any, profile: ProfileRef) -> dict[str, Any] | None:
        try:
            return sagemaker.describe_user_profile(
                DomainId=profile.domain_id, UserProfileName=profile.name)
        except ClientError as error:
            if _code(error) in _NOT_FOUND_CODES:
                return None  # a missing domain surfaces at create, as domain_not_found
            raise _spoke_failure("describe_profile", error) from error
        except BotoCoreError as error:
            raise SpokeFailure(f"describe_profile_failed:{type(error).__name__}") from error

    def _create(self, sagemaker: Any, team: Team, user_id: str, profile: ProfileRef) -> None:
        settings = thaw(team.user_settings)
        settings["ExecutionRole"] = team.execution_role_arn
        # the same legal, collision-free form as the session tag, so both name one person;
        # routing.yaml may not set User (validated), and the broker's value wins regardless
        tags = dict(team.tags) | {"User": tag_value(user_id)}
        try:
            sagemaker.create_user_profile(
                DomainId=profile.domain_id, UserProfileName=profile.name,
                UserSettings=settings, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        except ClientError as error:
            if _code(error) == "ResourceInUse":
                return  # a concurrent first sign-in created it: use that one
            if _code(error) == "ResourceLimitExceeded":
                raise ProfileNotReady(
                    "profile_quota_exceeded",
                    "This team's Studio has reached its user limit. Contact the platform team "
                    "with the reference below.") from error
            raise _spoke_failure("create_profile", error) from error
        except BotoCoreError as error:
            raise SpokeFailure(f"create_profile_failed:{type(error).__name__}") from error

    @staticmethod
    def _check_usable(described: dict[str, Any], team: Team) -> None:
        status = described["Status"]
        if status != "InService":
            raise ProfileNotReady(f"profile_status_{status.lower()}")
        role = described.get("UserSettings", {}).get("ExecutionRole")
        if role != team.execution_role_arn:
            # Presigning would hand the person a session with another role than the
            # team's; the broker may not fix it (no UpdateUserProfile in the spoke).
            raise ProfileNotReady("profile_execution_role_mismatch")


def _call(paginate: Callable[..., Any], operation: str) -> Any:
    try:
        return list(paginate())
    except ClientError as error:
        raise _spoke_failure(operation, error) from error
    except BotoCoreError as error:
        raise SpokeFailure(f"{operation}_failed:{type(error).__name__}") from error


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", "Unknown"))


def _spoke_failure(operation: str, error: ClientError) -> SpokeFailure:
    code = _code(error)
    if code in _NOT_FOUND_CODES:
        return SpokeFailure(f"{operation}_domain_not_found")
    return SpokeFailure(f"{operation}_failed:{code}")
