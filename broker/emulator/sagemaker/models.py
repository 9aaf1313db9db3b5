"""SageMaker user profiles and presigned domain URLs on top of moto's backend.

``ExtendedSageMakerBackend`` subclasses moto's ``SageMakerModelBackend`` and
:func:`broker.emulator.install` makes moto build it for every account and
region, so domains stay moto's and profiles live beside them.

Status transitions are lazy: a profile records the status it will settle to
and when; every read settles what is due. Presigned tokens are kept in one
process-wide registry so the Studio stand-in can redeem a token without
knowing which account issued it.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from moto.core.common_models import BaseModel
from moto.core.resource_tagging import TaggedResource
from moto.sagemaker.models import Domain, SageMakerModelBackend, sagemaker_backends
from moto.utilities.utils import get_partition

from .. import settings
from .apps import AppsAndSpaces
from .exceptions import (
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    ValidationException,
)
from .tokens import PresignedToken, presigned_tokens

PROFILE_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
PROFILE_NAME_MAX_LENGTH = 63
PROFILE_STATUSES = frozenset(
    {"Deleting", "Failed", "InService", "Pending", "Updating", "Update_Failed", "Delete_Failed"}
)
SESSION_EXPIRATION_RANGE = (1800, 43200)
EXPIRES_IN_RANGE = (5, 300)
LIST_MAX_RESULTS_RANGE = (1, 100)
LIST_DEFAULT_MAX_RESULTS = 10
LANDING_URI_PATTERN = re.compile(
    r"^(studio::.*|app:(JupyterServer|JupyterLab|RStudioServerPro|CodeEditor|Canvas):.*)$"
)
_FIRST_EFS_UID = 200001
# Expired tokens are kept this long so a late redeem still says "expired", not "unknown".


def _validation_error(problems: list[tuple[Any, str, str]]) -> ValidationException:
    """AWS's wording: '1 validation error detected: Value 'x' at 'field' failed ...'."""
    count = len(problems)
    noun = "validation error" if count == 1 else "validation errors"
    details = "; ".join(
        f"Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"
        for value, field, constraint in problems
    )
    return ValidationException(f"{count} {noun} detected: {details}")


def _range_problems(value: int | None, field: str, bounds: tuple[int, int]) -> list[Any]:
    if value is None:
        return []
    low, high = bounds
    if value < low:
        return [(value, field, f"Member must have value greater than or equal to {low}")]
    if value > high:
        return [(value, field, f"Member must have value less than or equal to {high}")]
    return []


def validate_profile_name(name: str) -> None:
    """Raise ValidationException unless ``name`` is a valid UserProfileName."""
    problems: list[tuple[Any, str, str]] = []
    if len(name) > PROFILE_NAME_MAX_LENGTH:
        problems.append((name, "userProfileName", "Member must have length less than or equal to 63"))
    if not re.fullmatch(PROFILE_NAME_PATTERN[1:], name):
        problems.append(
            (
                name,
                "userProfileName",
                f"Member must satisfy regular expression pattern: {PROFILE_NAME_PATTERN}",
            )
        )
    if problems:
        raise _validation_error(problems)


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class UserProfile(BaseModel):
    """One Studio user profile in one domain."""

    def __init__(
        self,
        *,
        account_id: str,
        region_name: str,
        domain_id: str,
        name: str,
        user_settings: dict[str, Any],
        tags: list[dict[str, str]],
        home_efs_uid: str,
        sequence: int,
        sso_identifier: str | None = None,
        sso_value: str | None = None,
    ) -> None:
        self.account_id = account_id
        self.region_name = region_name
        self.domain_id = domain_id
        self.name = name
        partition = get_partition(region_name)
        self.arn = f"arn:{partition}:sagemaker:{region_name}:{account_id}:user-profile/{domain_id}/{name}"
        self.user_settings = user_settings
        self.tags = tags
        self.home_efs_uid = home_efs_uid
        self.sequence = sequence
        self.sso_identifier = sso_identifier
        self.sso_value = sso_value
        now = time.time()
        self.creation_time = _utc(now)
        self.last_modified_time = self.creation_time
        self.failure_reason: str | None = None
        self.status = "Pending"
        self.deleted = False
        self._settles_to: str | None = None
        self._settles_at: float | None = None
        self.begin("Pending", settles_to="InService", now=now)

    def begin(self, status: str, *, settles_to: str | None, now: float) -> None:
        """Enter ``status``; after the configured delay become ``settles_to``.

        ``settles_to=None`` means the profile disappears (a finished delete).
        """
        self.status = status
        self.last_modified_time = _utc(now)
        self._settles_to = settles_to
        self._settles_at = now + settings.current().profile_delay_for(self.domain_id)
        self.settle(now)

    def force(self, status: str) -> None:
        """Pin ``status`` with no pending transition (a test hook)."""
        self.status = status
        self._settles_at = None
        self._settles_to = None
        self.last_modified_time = _utc(time.time())

    def settle(self, now: float) -> None:
        """Apply the pending transition if it is due."""
        if self._settles_at is None or now < self._settles_at:
            return
        if self._settles_to is None:
            self.deleted = True
        else:
            self.status = self._settles_to
        self.last_modified_time = _utc(self._settles_at)
        self._settles_at = None
        self._settles_to = None

    def describe(self) -> dict[str, Any]:
        description: dict[str, Any] = {
            "DomainId": self.domain_id,
            "UserProfileArn": self.arn,
            "UserProfileName": self.name,
            "HomeEfsFileSystemUid": self.home_efs_uid,
            "Status": self.status,
            "LastModifiedTime": self.last_modified_time,
            "CreationTime": self.creation_time,
            "UserSettings": self.user_settings,
        }
        if self.failure_reason:
            description["FailureReason"] = self.failure_reason
        if self.sso_identifier:
            description["SingleSignOnUserIdentifier"] = self.sso_identifier
        if self.sso_value:
            description["SingleSignOnUserValue"] = self.sso_value
        return description

    def summary(self) -> dict[str, Any]:
        return {
            "DomainId": self.domain_id,
            "UserProfileName": self.name,
            "Status": self.status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
        }




def _encode_page_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_page_token(token: str) -> int:
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError) as error:
        raise ValidationException("Invalid pagination token") from error
    if not isinstance(offset, int) or offset < 0:
        raise ValidationException("Invalid pagination token")
    return offset


class ExtendedSageMakerBackend(AppsAndSpaces, SageMakerModelBackend):
    """moto's SageMaker backend plus user profiles, apps, spaces and presigned domain URLs."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.init_extension()

    def init_extension(self) -> None:
        """Create the extension's state (also used to upgrade a pre-install backend)."""
        self.user_profiles: dict[tuple[str, str], UserProfile] = {}
        self._profile_lock = threading.RLock()
        self._profile_sequence = 0
        self._next_efs_uid: dict[str, int] = {}
        self.init_apps_and_spaces()

    @property
    def _url_module(self) -> ModuleType:
        # moto derives the urls module from the backend's module name; ours
        # lives in responses.py so the extended actions are dispatched.
        from . import responses

        return responses

    def reset(self) -> None:
        presigned_tokens.forget(self.account_id, self.region_name)
        super().reset()

    @property
    def _arn_prefix(self) -> str:
        return f"arn:{self.partition}:sagemaker:{self.region_name}:{self.account_id}"

    # Domains: moto says ValidationException for a missing domain, AWS ResourceNotFound.

    def _domain(self, domain_id: str) -> Domain:
        domain = self.domains.get(domain_id)
        if domain is None:
            arn = f"{self._arn_prefix}:domain/{domain_id}"
            raise ResourceNotFound(f"Domain {arn} does not exist.")
        return domain

    def describe_domain(self, domain_id: str) -> dict[str, Any]:
        return self._domain(domain_id).describe()

    def delete_domain(self, domain_id: str, retention_policy: dict[str, str] | None) -> None:
        self._domain(domain_id)
        with self._profile_lock:
            if any(key[0] == domain_id for key in self._live_profile_keys()):
                raise ResourceInUse(f"Domain {domain_id} has user profiles. Delete them before the domain.")
            if self.spaces_in_domain(domain_id):
                raise ResourceInUse(f"Domain {domain_id} has spaces. Delete them before the domain.")
            super().delete_domain(domain_id, retention_policy)

    # User profiles

    def _profile_arn(self, domain_id: str, name: str) -> str:
        return f"{self._arn_prefix}:user-profile/{domain_id}/{name}"

    def _live(self, key: tuple[str, str], now: float) -> UserProfile | None:
        profile = self.user_profiles.get(key)
        if profile is None:
            return None
        profile.settle(now)
        if profile.deleted:
            del self.user_profiles[key]
            return None
        return profile

    def _live_profile_keys(self) -> list[tuple[str, str]]:
        now = time.time()
        with self._profile_lock:
            return [key for key in list(self.user_profiles) if self._live(key, now)]

    def _profile(self, domain_id: str, name: str) -> UserProfile:
        with self._profile_lock:
            profile = self._live((domain_id, name), time.time())
        if profile is None:
            raise ResourceNotFound(f"User profile {self._profile_arn(domain_id, name)} does not exist.")
        return profile

    def create_user_profile(
        self,
        domain_id: str,
        user_profile_name: str,
        tags: list[dict[str, str]] | None = None,
        user_settings: dict[str, Any] | None = None,
        sso_identifier: str | None = None,
        sso_value: str | None = None,
    ) -> UserProfile:
        validate_profile_name(user_profile_name)
        self._domain(domain_id)
        quota = settings.current().profile_quota_per_domain
        with self._profile_lock:
            if self._live((domain_id, user_profile_name), time.time()) is not None:
                raise ResourceInUse(
                    f"Resource Already Exists: UserProfile with name {user_profile_name} "
                    "already exists. Choose a different name."
                )
            in_domain = sum(1 for key in self._live_profile_keys() if key[0] == domain_id)
            if in_domain + 1 > quota:
                raise ResourceLimitExceeded(
                    "The account-level service limit 'Maximum number of user profiles per "
                    f"domain' is {quota} UserProfiles, with current utilization of {in_domain} "
                    "UserProfiles and a request delta of 1 UserProfiles. Please use AWS "
                    "Service Quotas to request an increase for this quota."
                )
            uid = self._next_efs_uid.get(domain_id, _FIRST_EFS_UID)
            self._next_efs_uid[domain_id] = uid + 1
            self._profile_sequence += 1
            profile = UserProfile(
                account_id=self.account_id,
                region_name=self.region_name,
                domain_id=domain_id,
                name=user_profile_name,
                user_settings=dict(user_settings or {}),
                tags=[dict(tag) for tag in tags or []],
                home_efs_uid=str(uid),
                sequence=self._profile_sequence,
                sso_identifier=sso_identifier,
                sso_value=sso_value,
            )
            self.user_profiles[(domain_id, user_profile_name)] = profile
        return profile

    def describe_user_profile(self, domain_id: str, user_profile_name: str) -> UserProfile:
        return self._profile(domain_id, user_profile_name)

    def list_user_profiles(
        self,
        domain_id_equals: str | None = None,
        user_profile_name_contains: str | None = None,
        sort_by: str | None = None,
        sort_order: str | None = None,
        max_results: int | None = None,
        next_token: str | None = None,
    ) -> tuple[list[UserProfile], str | None]:
        """Filtered, sorted profiles (default CreationTime, Descending) and the next token."""
        problems = _range_problems(max_results, "maxResults", LIST_MAX_RESULTS_RANGE)
        if sort_by not in (None, "CreationTime", "LastModifiedTime"):
            problems.append(
                (sort_by, "sortBy", "Member must satisfy enum value set: [CreationTime, LastModifiedTime]")
            )
        if sort_order not in (None, "Ascending", "Descending"):
            problems.append(
                (sort_order, "sortOrder", "Member must satisfy enum value set: [Ascending, Descending]")
            )
        if problems:
            raise _validation_error(problems)
        with self._profile_lock:
            profiles = [self.user_profiles[key] for key in self._live_profile_keys()]
        if domain_id_equals:
            profiles = [p for p in profiles if p.domain_id == domain_id_equals]
        if user_profile_name_contains:
            profiles = [p for p in profiles if user_profile_name_contains in p.name]
        if sort_by == "LastModifiedTime":
            profiles.sort(key=lambda p: (p.last_modified_time, p.sequence))
        else:
            profiles.sort(key=lambda p: p.sequence)
        if sort_order != "Ascending":
            profiles.reverse()
        offset = _decode_page_token(next_token) if next_token else 0
        limit = max_results or LIST_DEFAULT_MAX_RESULTS
        page = profiles[offset : offset + limit]
        more = offset + limit < len(profiles)
        return page, (_encode_page_token(offset + limit) if more else None)

    def update_user_profile(
        self, domain_id: str, user_profile_name: str, user_settings: dict[str, Any] | None
    ) -> UserProfile:
        with self._profile_lock:
            profile = self._profile(domain_id, user_profile_name)
            if profile.status != "InService":
                raise ResourceInUse(
                    f"User profile {profile.arn} is in {profile.status} status and cannot be updated."
                )
            profile.user_settings = {**profile.user_settings, **(user_settings or {})}
            profile.begin("Updating", settles_to="InService", now=time.time())
        return profile

    def delete_user_profile(self, domain_id: str, user_profile_name: str) -> None:
        with self._profile_lock:
            profile = self._profile(domain_id, user_profile_name)
            if profile.status == "Deleting":
                raise ResourceInUse(f"User profile {profile.arn} is already being deleted.")
            blockers = self.blockers_of_profile(domain_id, user_profile_name)
            if blockers:
                # The Developer Guide: all apps launched by a user profile and all spaces
                # owned by it must be deleted to delete the profile.
                raise ResourceInUse(f"User profile {profile.arn} still has {', '.join(blockers)}. "
                                    "Delete its apps and spaces first.")
            profile.begin("Deleting", settles_to=None, now=time.time())
            self._live((domain_id, user_profile_name), time.time())

    def set_profile_status(self, domain_id: str, user_profile_name: str, status: str) -> None:
        """Test hook: pin a profile's status (no further transition happens)."""
        if status not in PROFILE_STATUSES:
            raise ValueError(f"unknown user profile status {status!r}")
        with self._profile_lock:
            self._profile(domain_id, user_profile_name).force(status)

    # Presigned domain URLs

    def create_presigned_domain_url(
        self,
        domain_id: str,
        user_profile_name: str,
        session_expiration_seconds: int | None = None,
        expires_in_seconds: int | None = None,
        space_name: str | None = None,
        landing_uri: str | None = None,
    ) -> str:
        """Issue a single-use Studio URL for an InService profile of an IAM-mode domain."""
        problems = _range_problems(
            session_expiration_seconds,
            "sessionExpirationDurationInSeconds",
            SESSION_EXPIRATION_RANGE,
        ) + _range_problems(expires_in_seconds, "expiresInSeconds", EXPIRES_IN_RANGE)
        if landing_uri is not None and not LANDING_URI_PATTERN.match(landing_uri):
            problems.append(
                (
                    landing_uri,
                    "landingUri",
                    "Member must be 'studio::<path>' or "
                    "'app:<JupyterServer|JupyterLab|RStudioServerPro|CodeEditor|Canvas>:<path>'",
                )
            )
        if problems:
            raise _validation_error(problems)
        domain = self._domain(domain_id)
        profile = self._profile(domain_id, user_profile_name)
        if domain.auth_mode != "IAM":
            raise ValidationException(
                f"Domain {domain_id} uses {domain.auth_mode} authentication. "
                "CreatePresignedDomainUrl is supported only for domains in IAM mode."
            )
        if profile.status != "InService":
            raise ValidationException(
                f"User profile {user_profile_name} in domain {domain_id} is in "
                f"{profile.status} status. A presigned URL can be created only for a user "
                "profile in InService status."
            )
        now = time.time()
        role = profile.user_settings.get("ExecutionRole") or (domain.default_user_settings or {}).get(
            "ExecutionRole"
        )
        record = PresignedToken(
            token=secrets.token_urlsafe(32),
            account_id=self.account_id,
            region=self.region_name,
            domain_id=domain_id,
            user_profile_name=user_profile_name,
            execution_role=role,
            landing_uri=landing_uri,
            space_name=space_name,
            session_expiration_seconds=session_expiration_seconds or SESSION_EXPIRATION_RANGE[1],
            issued_at=now,
            expires_at=now + (expires_in_seconds or EXPIRES_IN_RANGE[1]),
        )
        presigned_tokens.issue(record)
        query = {"token": record.token}
        if landing_uri:
            query["landing_uri"] = landing_uri
        if space_name:
            query["space_name"] = space_name
        base = settings.current().studio_url(
            domain_id=domain_id, region=self.region_name, account_id=self.account_id
        )
        return f"{base}/auth?{urlencode(query)}"

    # Tags on user-profile ARNs (moto's resolver expects exactly one '/')

    def _profile_from_arn(self, arn: str) -> UserProfile | None:
        parts = arn.split(":", 5)
        if len(parts) != 6 or not parts[5].startswith("user-profile/"):
            return None
        missing = ValidationException(f"Could not find user-profile with ARN {arn}")
        if (parts[3], parts[4]) != (self.region_name, self.account_id):
            raise missing
        _, _, rest = parts[5].partition("/")
        domain_id, _, name = rest.partition("/")
        with self._profile_lock:
            profile = self._live((domain_id, name), time.time())
        if profile is None:
            raise missing
        return profile

    def _get_resource_from_arn(self, arn: str) -> Any:
        resource = self._profile_from_arn(arn) or super()._get_resource_from_arn(arn)
        # moto leaves ``tags`` None on a domain created without tags; tagging it then fails.
        if resource is not None and getattr(resource, "tags", []) is None:
            resource.tags = []
        return resource

    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> list[dict[str, str]]:
        profile = self._profile_from_arn(arn)
        if profile is None:
            return super().add_tags(arn, tags)
        # AWS overwrites a key that is set again; moto's list would duplicate it.
        merged = {tag["Key"]: tag["Value"] for tag in profile.tags}
        merged.update({tag["Key"]: tag["Value"] for tag in tags})
        profile.tags = [{"Key": key, "Value": value} for key, value in merged.items()]
        return profile.tags

    def iter_tagged_resources(self) -> Iterator[TaggedResource]:
        yield from super().iter_tagged_resources()
        with self._profile_lock:
            profiles = [self.user_profiles[key] for key in self._live_profile_keys()]
        for profile in profiles:
            yield TaggedResource(
                arn=profile.arn,
                tags={tag["Key"]: tag["Value"] for tag in profile.tags},
                resource_type="sagemaker:user-profile",
            )


def backend_for(account_id: str, region: str) -> ExtendedSageMakerBackend:
    """The extended backend of one account and region (after install())."""
    backend = sagemaker_backends[account_id][region]
    if not isinstance(backend, ExtendedSageMakerBackend):
        raise RuntimeError("broker.emulator.install() has not been called")
    return backend


def set_profile_status(
    account_id: str, region: str, domain_id: str, user_profile_name: str, status: str
) -> None:
    """Test hook: pin a profile's status, e.g. Failed, Deleting or Updating."""
    backend_for(account_id, region).set_profile_status(domain_id, user_profile_name, status)


def redeem_presigned_token(token: str, now: float | None = None) -> PresignedToken:
    """Redeem a presigned-URL token once; raises an InvalidPresignedToken subclass."""
    return presigned_tokens.redeem(token, now)
