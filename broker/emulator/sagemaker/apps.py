"""Studio apps and spaces, and the deletion rules they put on a user profile.

moto 5.2.5 has neither. What matters to ``broker profiles reconcile``, after
the SageMaker Developer Guide ("Remove user profiles": all apps launched by a
user profile and all spaces owned by it must be deleted to delete the
profile; wait until every app shows Deleted, then delete the spaces) and the
API reference (CreateApp, DeleteApp, ListApps, CreateSpace, DeleteSpace,
ListSpaces):

- an app is Pending, then InService; DeleteApp makes it Deleting, then Deleted,
  and a Deleted app stays listed (ListApps shows it) but blocks nothing;
- only an InService app can be deleted; a Failed app need not be deleted;
- a space cannot be deleted while it has an app that is not Deleted or Failed;
- a profile cannot be deleted while it has such an app or owns a space
  (``ResourceInUse``).

Transitions are lazy, as for profiles: each record keeps the status it will
settle to and when (the emulator's ``profile_delay_seconds``).
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.core.common_models import BaseModel

from .. import settings
from .exceptions import ResourceInUse, ResourceNotFound, ValidationException

APP_TYPES = frozenset({"JupyterServer", "KernelGateway", "DetailedProfiler", "TensorBoard", "CodeEditor",
                       "JupyterLab", "RStudioServerPro", "RSessionGateway", "Canvas"})
# An app in these states blocks nothing (the Developer Guide: failed apps need not be deleted).
APP_GONE = frozenset({"Deleted", "Failed"})
APP_STATUSES = frozenset({"Deleted", "Deleting", "Failed", "InService", "Pending"})


def _utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


class _Lifecycle:
    """A status that settles after the emulator's delay; ``None`` as the target: the record goes."""

    status: str
    last_modified_time: datetime
    gone: bool

    def begin(self, status: str, settles_to: str | None, now: float) -> None:
        self.status, self._settles_to = status, settles_to
        self._settles_at: float | None = now + settings.current().profile_delay_seconds
        self.last_modified_time = _utc(now)
        self.settle(now)

    def settle(self, now: float) -> None:
        if self._settles_at is None or now < self._settles_at:
            return
        if self._settles_to is None:
            self.gone = True
        else:
            self.status = self._settles_to
        self.last_modified_time = _utc(self._settles_at)
        self._settles_at = None

    def force(self, status: str) -> None:
        self.status, self._settles_at = status, None
        self.last_modified_time = _utc(time.time())


class App(BaseModel, _Lifecycle):
    """One Studio app of a user profile or of a space."""

    def __init__(self, *, arn: str, domain_id: str, app_type: str, app_name: str,
                 user_profile_name: str | None, space_name: str | None,
                 resource_spec: dict[str, Any] | None, tags: list[dict[str, str]], now: float) -> None:
        self.arn, self.domain_id, self.app_type, self.app_name = arn, domain_id, app_type, app_name
        self.user_profile_name, self.space_name = user_profile_name, space_name
        self.resource_spec = resource_spec or {}
        self.tags = tags
        self.creation_time = _utc(now)
        self.gone = False
        self.begin("Pending", "InService", now)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"DomainId": self.domain_id, "AppType": self.app_type,
                                   "AppName": self.app_name, "Status": self.status,
                                   "CreationTime": self.creation_time}
        if self.user_profile_name:
            summary["UserProfileName"] = self.user_profile_name
        if self.space_name:
            summary["SpaceName"] = self.space_name
        if self.resource_spec:
            summary["ResourceSpec"] = self.resource_spec
        return summary

    def describe(self) -> dict[str, Any]:
        return {**self.summary(), "AppArn": self.arn, "LastUserActivityTimestamp": self.last_modified_time}


class Space(BaseModel, _Lifecycle):
    """One Studio space; a private or shared space is owned by one user profile."""

    def __init__(self, *, arn: str, domain_id: str, name: str, owner: str | None, sharing_type: str | None,
                 space_settings: dict[str, Any] | None, display_name: str | None,
                 tags: list[dict[str, str]], now: float) -> None:
        self.arn, self.domain_id, self.name, self.owner = arn, domain_id, name, owner
        self.sharing_type, self.display_name = sharing_type, display_name
        self.space_settings = space_settings or {}
        self.tags = tags
        self.creation_time = _utc(now)
        self.gone = False
        self.begin("Pending", "InService", now)

    def summary(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"DomainId": self.domain_id, "SpaceName": self.name, "Status": self.status,
                                   "CreationTime": self.creation_time,
                                   "LastModifiedTime": self.last_modified_time}
        if self.owner:
            summary["OwnershipSettingsSummary"] = {"OwnerUserProfileName": self.owner}
        if self.sharing_type:
            summary["SpaceSharingSettingsSummary"] = {"SharingType": self.sharing_type}
        if self.display_name:
            summary["SpaceDisplayName"] = self.display_name
        return summary

    def describe(self) -> dict[str, Any]:
        described = {**self.summary(), "SpaceArn": self.arn, "SpaceSettings": self.space_settings}
        if self.owner:
            described["OwnershipSettings"] = {"OwnerUserProfileName": self.owner}
        if self.sharing_type:
            described["SpaceSharingSettings"] = {"SharingType": self.sharing_type}
        return described


AppKey = tuple[str, str, str, str, str]  # domain, "user"|"space", owner name, app type, app name


def _page(items: list[Any], max_results: int | None, next_token: str | None) -> tuple[list[Any], str | None]:
    from .models import _decode_page_token, _encode_page_token

    offset = _decode_page_token(next_token) if next_token else 0
    limit = max_results or 10
    more = offset + limit < len(items)
    return items[offset:offset + limit], (_encode_page_token(offset + limit) if more else None)


class AppsAndSpaces:
    """The backend's apps and spaces (mixed into the extended SageMaker backend)."""

    account_id: str
    region_name: str
    _arn_prefix: str

    def init_apps_and_spaces(self) -> None:
        self.apps: dict[AppKey, App] = {}
        self.spaces: dict[tuple[str, str], Space] = {}
        self._apps_lock = threading.RLock()

    if TYPE_CHECKING:  # the backend's own lookups (broker.emulator.sagemaker.models)
        def _domain(self, domain_id: str) -> Any: ...
        def _profile(self, domain_id: str, name: str) -> Any: ...

    def _settled_apps(self) -> list[App]:
        now = time.time()
        with self._apps_lock:
            for app in self.apps.values():
                app.settle(now)
            return list(self.apps.values())

    def _settled_spaces(self) -> list[Space]:
        now = time.time()
        with self._apps_lock:
            for key, space in list(self.spaces.items()):
                space.settle(now)
                if space.gone:
                    del self.spaces[key]
            return list(self.spaces.values())

    def blockers_of_profile(self, domain_id: str, name: str) -> list[str]:
        """What keeps a profile from being deleted: its live apps and the spaces it owns."""
        apps = [f"app {a.app_type}/{a.app_name}" for a in self._settled_apps()
                if a.domain_id == domain_id and a.user_profile_name == name and a.status not in APP_GONE]
        spaces = [f"space {s.name}" for s in self._settled_spaces()
                  if s.domain_id == domain_id and s.owner == name]
        return apps + spaces

    def spaces_in_domain(self, domain_id: str) -> list[Space]:
        return [s for s in self._settled_spaces() if s.domain_id == domain_id]

    # apps

    def create_app(self, domain_id: str, app_type: str, app_name: str, user_profile_name: str | None,
                   space_name: str | None, resource_spec: dict[str, Any] | None,
                   tags: list[dict[str, str]] | None) -> App:
        if app_type not in APP_TYPES:
            raise ValidationException(f"Value '{app_type}' at 'appType' failed to satisfy constraint: "
                                      f"Member must satisfy enum value set: {sorted(APP_TYPES)}")
        if (user_profile_name is None) == (space_name is None):
            raise ValidationException("Exactly one of UserProfileName and SpaceName must be set.")
        self._domain(domain_id)
        if user_profile_name is not None:
            profile = self._profile(domain_id, user_profile_name)
            if profile.status != "InService":
                raise ResourceInUse(f"User profile {user_profile_name} is in {profile.status} status.")
            owner_kind, owner, path = "user", user_profile_name, user_profile_name
        else:
            assert space_name is not None
            self._space(domain_id, space_name)
            owner_kind, owner, path = "space", space_name, space_name
        key: AppKey = (domain_id, owner_kind, owner, app_type, app_name)
        with self._apps_lock:
            existing = self.apps.get(key)
            if existing is not None:
                existing.settle(time.time())
                if existing.status not in APP_GONE:
                    raise ResourceInUse(f"App {existing.arn} already exists.")
            app = App(arn=f"{self._arn_prefix}:app/{domain_id}/{path}/{app_type.lower()}/{app_name}",
                      domain_id=domain_id, app_type=app_type, app_name=app_name,
                      user_profile_name=user_profile_name, space_name=space_name,
                      resource_spec=resource_spec, tags=[dict(t) for t in tags or []], now=time.time())
            self.apps[key] = app
        return app

    def _app(self, domain_id: str, app_type: str, app_name: str, user_profile_name: str | None,
             space_name: str | None) -> App:
        if (user_profile_name is None) == (space_name is None):
            raise ValidationException("Exactly one of UserProfileName and SpaceName must be set.")
        owner_kind, owner = ("user", user_profile_name) if user_profile_name else ("space", space_name)
        with self._apps_lock:
            app = self.apps.get((domain_id, owner_kind, str(owner), app_type, app_name))
            if app is not None:
                app.settle(time.time())
        if app is None:
            raise ResourceNotFound(f"App {domain_id}/{owner}/{app_type}/{app_name} does not exist.")
        return app

    def describe_app(self, domain_id: str, app_type: str, app_name: str, user_profile_name: str | None,
                     space_name: str | None) -> App:
        return self._app(domain_id, app_type, app_name, user_profile_name, space_name)

    def delete_app(self, domain_id: str, app_type: str, app_name: str, user_profile_name: str | None,
                   space_name: str | None) -> None:
        with self._apps_lock:
            app = self._app(domain_id, app_type, app_name, user_profile_name, space_name)
            if app.status == "Deleted":
                raise ResourceNotFound(f"App {app.arn} has already been deleted.")
            if app.status != "InService":
                raise ResourceInUse(f"App {app.arn} is in {app.status} status and cannot be deleted.")
            app.begin("Deleting", "Deleted", time.time())

    def list_apps(self, domain_id_equals: str | None, user_profile_name_equals: str | None,
                  space_name_equals: str | None, sort_order: str | None, max_results: int | None,
                  next_token: str | None) -> tuple[list[App], str | None]:
        if user_profile_name_equals and space_name_equals:
            raise ValidationException("UserProfileNameEquals and SpaceNameEquals cannot both be set.")
        apps = [a for a in self._settled_apps()
                if (not domain_id_equals or a.domain_id == domain_id_equals)
                and (not user_profile_name_equals or a.user_profile_name == user_profile_name_equals)
                and (not space_name_equals or a.space_name == space_name_equals)]
        apps.sort(key=lambda a: a.creation_time, reverse=sort_order != "Ascending")
        return _page(apps, max_results, next_token)

    def set_app_status(self, domain_id: str, app_type: str, app_name: str, user_profile_name: str | None,
                       space_name: str | None, status: str) -> None:
        """Test hook: pin an app's status (e.g. Failed)."""
        if status not in APP_STATUSES:
            raise ValueError(f"unknown app status {status!r}")
        with self._apps_lock:
            self._app(domain_id, app_type, app_name, user_profile_name, space_name).force(status)

    # spaces

    def _space(self, domain_id: str, name: str) -> Space:
        space = next((s for s in self._settled_spaces() if (s.domain_id, s.name) == (domain_id, name)), None)
        if space is None:
            raise ResourceNotFound(f"Space {self._arn_prefix}:space/{domain_id}/{name} does not exist.")
        return space

    def create_space(self, domain_id: str, space_name: str, owner: str | None, sharing_type: str | None,
                     space_settings: dict[str, Any] | None, display_name: str | None,
                     tags: list[dict[str, str]] | None) -> Space:
        self._domain(domain_id)
        if owner is not None:
            self._profile(domain_id, owner)
        with self._apps_lock:
            if any((s.domain_id, s.name) == (domain_id, space_name) for s in self._settled_spaces()):
                raise ResourceInUse(f"Space {space_name} already exists in domain {domain_id}.")
            space = Space(arn=f"{self._arn_prefix}:space/{domain_id}/{space_name}", domain_id=domain_id,
                          name=space_name, owner=owner, sharing_type=sharing_type,
                          space_settings=space_settings, display_name=display_name,
                          tags=[dict(t) for t in tags or []], now=time.time())
            self.spaces[(domain_id, space_name)] = space
        return space

    def describe_space(self, domain_id: str, space_name: str) -> Space:
        return self._space(domain_id, space_name)

    def delete_space(self, domain_id: str, space_name: str) -> None:
        with self._apps_lock:
            space = self._space(domain_id, space_name)
            if space.status == "Deleting":
                raise ResourceInUse(f"Space {space.arn} is already being deleted.")
            live = [a for a in self._settled_apps()
                    if a.domain_id == domain_id and a.space_name == space_name and a.status not in APP_GONE]
            if live:
                raise ResourceInUse(f"Space {space.arn} has {len(live)} apps that are not deleted. "
                                    "Delete them first.")
            space.begin("Deleting", None, time.time())
            self._settled_spaces()

    def list_spaces(self, domain_id_equals: str | None, space_name_contains: str | None,
                    sort_order: str | None, max_results: int | None,
                    next_token: str | None) -> tuple[list[Space], str | None]:
        spaces = [s for s in self._settled_spaces()
                  if (not domain_id_equals or s.domain_id == domain_id_equals)
                  and (not space_name_contains or space_name_contains in s.name)]
        spaces.sort(key=lambda s: s.creation_time, reverse=sort_order != "Ascending")
        return _page(spaces, max_results, next_token)
