"""The extended SageMaker actions: read parameters, call the backend, answer.

This module also carries ``url_bases`` / ``url_paths`` (moto's urls-module
contract) because ``ExtendedSageMakerBackend._url_module`` points here: moto
then routes SageMaker requests to ``ExtendedSageMakerResponse``.
"""

from __future__ import annotations

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


url_bases = moto_sagemaker_urls.url_bases
url_paths = {path: ExtendedSageMakerResponse.dispatch for path in moto_sagemaker_urls.url_paths}
