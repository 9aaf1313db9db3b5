"""The extended SageMaker actions: read parameters, call the backend, answer.

This module also carries ``url_bases`` / ``url_paths`` (moto's urls-module
contract) because ``ExtendedSageMakerBackend._url_module`` points here: moto
then routes SageMaker requests to ``ExtendedSageMakerResponse``.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker import urls as moto_sagemaker_urls
from moto.sagemaker.responses import SageMakerResponse

from .models import ExtendedSageMakerBackend


class ExtendedSageMakerResponse(SageMakerResponse):
    """moto's SageMaker responses plus user profiles and presigned domain URLs."""

    @property
    def extended_backend(self) -> ExtendedSageMakerBackend:
        backend = self.sagemaker_backend
        if not isinstance(backend, ExtendedSageMakerBackend):
            raise RuntimeError("broker.emulator.install() has not been called")
        return backend

    def create_user_profile(self) -> ActionResult:
        profile = self.extended_backend.create_user_profile(
            domain_id=self._get_param("DomainId"),
            user_profile_name=self._get_param("UserProfileName"),
            tags=self._get_param("Tags"),
            user_settings=self._get_param("UserSettings"),
            sso_identifier=self._get_param("SingleSignOnUserIdentifier"),
            sso_value=self._get_param("SingleSignOnUserValue"),
        )
        return ActionResult({"UserProfileArn": profile.arn})

    def describe_user_profile(self) -> ActionResult:
        profile = self.extended_backend.describe_user_profile(
            domain_id=self._get_param("DomainId"),
            user_profile_name=self._get_param("UserProfileName"),
        )
        return ActionResult(profile.describe())

    def list_user_profiles(self) -> ActionResult:
        profiles, next_token = self.extended_backend.list_user_profiles(
            domain_id_equals=self._get_param("DomainIdEquals"),
            user_profile_name_contains=self._get_param("UserProfileNameContains"),
            sort_by=self._get_param("SortBy"),
            sort_order=self._get_param("SortOrder"),
            max_results=self._get_param("MaxResults"),
            next_token=self._get_param("NextToken"),
        )
        result = {"UserProfiles": [profile.summary() for profile in profiles]}
        if next_token:
            result["NextToken"] = next_token
        return ActionResult(result)

    def update_user_profile(self) -> ActionResult:
        profile = self.extended_backend.update_user_profile(
            domain_id=self._get_param("DomainId"),
            user_profile_name=self._get_param("UserProfileName"),
            user_settings=self._get_param("UserSettings"),
        )
        return ActionResult({"UserProfileArn": profile.arn})

    def delete_user_profile(self) -> ActionResult:
        self.extended_backend.delete_user_profile(
            domain_id=self._get_param("DomainId"),
            user_profile_name=self._get_param("UserProfileName"),
        )
        return EmptyResult()

    # Apps and spaces (what reconcile meets when it deletes a profile)

    def _app_params(self) -> dict[str, Any]:
        return {"domain_id": self._get_param("DomainId"), "app_type": self._get_param("AppType"),
                "app_name": self._get_param("AppName"),
                "user_profile_name": self._get_param("UserProfileName"),
                "space_name": self._get_param("SpaceName")}

    def create_app(self) -> ActionResult:
        app = self.extended_backend.create_app(
            **self._app_params(), resource_spec=self._get_param("ResourceSpec"), tags=self._get_param("Tags"))
        return ActionResult({"AppArn": app.arn})

    def describe_app(self) -> ActionResult:
        return ActionResult(self.extended_backend.describe_app(**self._app_params()).describe())

    def delete_app(self) -> ActionResult:
        self.extended_backend.delete_app(**self._app_params())
        return EmptyResult()

    def list_apps(self) -> ActionResult:
        apps, next_token = self.extended_backend.list_apps(
            domain_id_equals=self._get_param("DomainIdEquals"),
            user_profile_name_equals=self._get_param("UserProfileNameEquals"),
            space_name_equals=self._get_param("SpaceNameEquals"),
            sort_order=self._get_param("SortOrder"), max_results=self._get_param("MaxResults"),
            next_token=self._get_param("NextToken"))
        return ActionResult({"Apps": [app.summary() for app in apps], **_token(next_token)})

    def create_space(self) -> ActionResult:
        ownership = self._get_param("OwnershipSettings") or {}
        sharing = self._get_param("SpaceSharingSettings") or {}
        space = self.extended_backend.create_space(
            domain_id=self._get_param("DomainId"), space_name=self._get_param("SpaceName"),
            owner=ownership.get("OwnerUserProfileName"), sharing_type=sharing.get("SharingType"),
            space_settings=self._get_param("SpaceSettings"),
            display_name=self._get_param("SpaceDisplayName"), tags=self._get_param("Tags"))
        return ActionResult({"SpaceArn": space.arn})

    def describe_space(self) -> ActionResult:
        return ActionResult(self.extended_backend.describe_space(
            domain_id=self._get_param("DomainId"), space_name=self._get_param("SpaceName")).describe())

    def delete_space(self) -> ActionResult:
        self.extended_backend.delete_space(
            domain_id=self._get_param("DomainId"), space_name=self._get_param("SpaceName"))
        return EmptyResult()

    def list_spaces(self) -> ActionResult:
        spaces, next_token = self.extended_backend.list_spaces(
            domain_id_equals=self._get_param("DomainIdEquals"),
            space_name_contains=self._get_param("SpaceNameContains"),
            sort_order=self._get_param("SortOrder"), max_results=self._get_param("MaxResults"),
            next_token=self._get_param("NextToken"))
        return ActionResult({"Spaces": [space.summary() for space in spaces], **_token(next_token)})

    def create_presigned_domain_url(self) -> ActionResult:
        url = self.extended_backend.create_presigned_domain_url(
            domain_id=self._get_param("DomainId"),
            user_profile_name=self._get_param("UserProfileName"),
            session_expiration_seconds=self._get_param("SessionExpirationDurationInSeconds"),
            expires_in_seconds=self._get_param("ExpiresInSeconds"),
            space_name=self._get_param("SpaceName"),
            landing_uri=self._get_param("LandingUri"),
        )
        return ActionResult({"AuthorizedUrl": url})


def _token(next_token: str | None) -> dict[str, str]:
    return {"NextToken": next_token} if next_token else {}


url_bases = moto_sagemaker_urls.url_bases
url_paths = {path: ExtendedSageMakerResponse.dispatch for path in moto_sagemaker_urls.url_paths}
