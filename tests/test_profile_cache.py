"""The known-InService cache of profiles: what a presign failure may and may not drop."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from broker.config import DomainRef, SpokeAccess, Team
from broker.exceptions import ProfileGone, SpokeFailure
from broker.profiles import ProfileService

TEAM = Team(
    id="team-a", account_id="111111111111", region="eu-west-1", domain=DomainRef(domain_id="d-abc"),
    execution_role_arn="arn:aws:iam::111111111111:role/team-a-exec", tags={}, user_settings={},
    spoke_access=SpokeAccess(external_id="ext-team-a-0123"))


class FakeSageMaker:
    """Describes every profile as InService; presign fails with ``failure`` when set."""

    def __init__(self) -> None:
        self.describes = 0
        self.failure: Exception | None = None

    def describe_user_profile(self, DomainId: str, UserProfileName: str) -> dict[str, Any]:  # noqa: N803
        self.describes += 1
        return {"Status": "InService", "UserSettings": {"ExecutionRole": TEAM.execution_role_arn}}

    def create_presigned_domain_url(self, **_: Any) -> dict[str, str]:
        if self.failure is not None:
            raise self.failure
        return {"AuthorizedUrl": "https://d-abc.studio.eu-west-1.sagemaker.aws/auth?token=t"}


class FakeSpokes:
    def __init__(self, sagemaker: FakeSageMaker) -> None:
        self.sagemaker = sagemaker

    def client(self, team: Team, service: str, user_id: str) -> FakeSageMaker:
        return self.sagemaker


def client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, "CreatePresignedDomainUrl")


@pytest.fixture
def sagemaker() -> FakeSageMaker:
    return FakeSageMaker()


@pytest.fixture
def profiles(sagemaker: FakeSageMaker) -> ProfileService:
    return ProfileService(FakeSpokes(sagemaker))  # type: ignore[arg-type]


def presign_after_failure(profiles: ProfileService, sagemaker: FakeSageMaker,
                          failure: Exception) -> type[Exception]:
    """Sign in once (cached), fail a presign with ``failure``, then sign in again."""
    profile = profiles.ensure(TEAM, "alice").profile
    sagemaker.failure = failure
    with pytest.raises((SpokeFailure, ProfileGone)) as caught:
        profiles.presigned_url(TEAM, "alice", profile)
    sagemaker.failure = None
    profiles.presigned_url(TEAM, "alice", profiles.ensure(TEAM, "alice").profile)
    return type(caught.value)


@pytest.mark.parametrize("failure", [
    client_error("ThrottlingException"), client_error("Throttling"),
    client_error("TooManyRequestsException"), client_error("ServiceUnavailable"),
    client_error("InternalFailure"), ReadTimeoutError(endpoint_url="https://api.sagemaker"),
], ids=["ThrottlingException", "Throttling", "TooManyRequests", "ServiceUnavailable",
        "InternalFailure", "ReadTimeout"])
def test_throttling_or_an_outage_keeps_the_profile_known(
    profiles: ProfileService, sagemaker: FakeSageMaker, failure: Exception
) -> None:
    assert presign_after_failure(profiles, sagemaker, failure) is SpokeFailure
    assert sagemaker.describes == 1  # the next sign-in went straight to presign


@pytest.mark.parametrize(("code", "raised"), [
    ("ResourceNotFound", ProfileGone), ("ValidationException", SpokeFailure)])
def test_a_profile_gone_or_not_in_service_is_looked_up_again(
    profiles: ProfileService, sagemaker: FakeSageMaker, code: str, raised: type[Exception]
) -> None:
    assert presign_after_failure(profiles, sagemaker, client_error(code)) is raised
    assert sagemaker.describes == 2
