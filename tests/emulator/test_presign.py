"""CreatePresignedDomainUrl and redeeming its single-use token."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from botocore.exceptions import ClientError
from moto.core.base_backend import BackendDict

from broker.emulator import (
    PresignedTokenAlreadyUsed,
    PresignedTokenExpired,
    UnknownPresignedToken,
    redeem_presigned_token,
    set_profile_status,
    settings,
)
from broker.emulator.sagemaker import presigned_tokens

from .conftest import HUB_ACCOUNT, REGION, ROLE_ARN, SPOKE_ACCOUNT, Aws, error_of, make_domain

PROFILE_ROLE = f"arn:aws:iam::{HUB_ACCOUNT}:role/alice-role"


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def make_profile(sm: object, domain_id: str, name: str = "alice", **extra: object) -> None:
    sm.create_user_profile(DomainId=domain_id, UserProfileName=name, **extra)  # type: ignore[attr-defined]


def test_url_and_token_record(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id, UserSettings={"ExecutionRole": PROFILE_ROLE})
    before = time.time()
    url = sm.create_presigned_domain_url(
        DomainId=domain_id,
        UserProfileName="alice",
        SessionExpirationDurationInSeconds=1800,
        ExpiresInSeconds=60,
        LandingUri="app:JupyterLab:lab/tree",
        SpaceName="alice-space",
    )["AuthorizedUrl"]

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == (
        f"https://{domain_id}.studio.{REGION}.sagemaker.aws/auth"
    )
    query = parse_qs(parts.query)
    assert query["landing_uri"] == ["app:JupyterLab:lab/tree"]
    assert query["space_name"] == ["alice-space"]
    token = query["token"][0]
    assert len(token) >= 40

    record = redeem_presigned_token(token)
    assert (record.account_id, record.region, record.domain_id) == (HUB_ACCOUNT, REGION, domain_id)
    assert record.user_profile_name == "alice"
    assert record.execution_role == PROFILE_ROLE
    assert (record.landing_uri, record.space_name) == ("app:JupyterLab:lab/tree", "alice-space")
    assert record.session_expiration_seconds == 1800
    assert before <= record.issued_at <= time.time()
    assert record.expires_at == pytest.approx(record.issued_at + 60)
    assert record.used is True


def test_defaults_and_role_from_domain(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert set(parse_qs(urlsplit(url["AuthorizedUrl"]).query)) == {"token"}
    record = presigned_tokens.peek(token_of(url["AuthorizedUrl"]))
    assert record is not None and record.used is False
    assert record.execution_role == ROLE_ARN
    assert record.session_expiration_seconds == 43200
    assert record.expires_at == pytest.approx(record.issued_at + 300)


def test_each_call_gets_a_fresh_token(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    urls = {
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")["AuthorizedUrl"]
        for _ in range(3)
    }
    assert len({token_of(url) for url in urls}) == 3


def test_token_is_single_use(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    token = token_of(
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")["AuthorizedUrl"]
    )
    redeem_presigned_token(token)
    with pytest.raises(PresignedTokenAlreadyUsed, match="already used"):
        redeem_presigned_token(token)


def test_token_expires(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice", ExpiresInSeconds=5)[
        "AuthorizedUrl"
    ]
    record = presigned_tokens.peek(token_of(url))
    assert record is not None
    with pytest.raises(PresignedTokenExpired, match="expired"):
        redeem_presigned_token(record.token, now=record.expires_at + 0.001)
    # An expired attempt does not use the token up.
    assert redeem_presigned_token(record.token, now=record.expires_at).used


def test_unknown_token() -> None:
    with pytest.raises(UnknownPresignedToken) as excinfo:
        redeem_presigned_token("no-such-token")
    assert excinfo.value.reason == "unknown"


def test_tokens_are_forgotten_when_moto_resets(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    token = token_of(url["AuthorizedUrl"])
    assert presigned_tokens.peek(token) is not None
    BackendDict.reset()  # what mock_aws() does when it stops
    with pytest.raises(UnknownPresignedToken):
        redeem_presigned_token(token)


def test_tokens_of_other_accounts_are_findable(aws: Aws) -> None:
    spoke = aws.client("sagemaker", aws.spoke_credentials())
    domain_id = make_domain(spoke)
    make_profile(spoke, domain_id)
    url = spoke.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    record = redeem_presigned_token(token_of(url["AuthorizedUrl"]))
    assert record.account_id == SPOKE_ACCOUNT


def test_studio_base_url_setting(in_process: Aws) -> None:
    settings.configure(studio_base_url="http://127.0.0.1:9/studio/{account_id}/{region}/{domain_id}/")
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert url["AuthorizedUrl"].startswith(
        f"http://127.0.0.1:9/studio/{HUB_ACCOUNT}/{REGION}/{domain_id}/auth?token="
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"SessionExpirationDurationInSeconds": 1799},
            "1 validation error detected: Value '1799' at 'sessionExpirationDurationInSeconds' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1800",
        ),
        (
            {"SessionExpirationDurationInSeconds": 43201},
            "1 validation error detected: Value '43201' at 'sessionExpirationDurationInSeconds' "
            "failed to satisfy constraint: Member must have value less than or equal to 43200",
        ),
        (
            {"ExpiresInSeconds": 4},
            "1 validation error detected: Value '4' at 'expiresInSeconds' failed to satisfy "
            "constraint: Member must have value greater than or equal to 5",
        ),
        (
            {"ExpiresInSeconds": 301, "SessionExpirationDurationInSeconds": 0},
            "2 validation errors detected: Value '0' at 'sessionExpirationDurationInSeconds' "
            "failed to satisfy constraint: Member must have value greater than or equal to 1800; "
            "Value '301' at 'expiresInSeconds' failed to satisfy constraint: Member must have "
            "value less than or equal to 300",
        ),
        (
            {"LandingUri": "https://evil.example"},
            "1 validation error detected: Value 'https://evil.example' at 'landingUri' failed to "
            "satisfy constraint: Member must be 'studio::<path>' or "
            "'app:<JupyterServer|JupyterLab|RStudioServerPro|CodeEditor|Canvas>:<path>'",
        ),
    ],
)
def test_out_of_range_parameters(aws: Aws, arguments: dict[str, object], message: str) -> None:
    # Client-side validation off: botocore itself refuses values below the minimum.
    sm = aws.client("sagemaker", validate=False)
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    tokens_before = len(presigned_tokens)
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice", **arguments)
    assert error_of(excinfo) == ("ValidationException", message, 400)
    assert len(presigned_tokens) == tokens_before


def test_missing_domain_and_profile(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId="d-nope", UserProfileName="alice")
    assert error_of(excinfo) == (
        "ResourceNotFound",
        f"Domain arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:domain/d-nope does not exist.",
        400,
    )
    domain_id = make_domain(sm)
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == (
        "ResourceNotFound",
        f"User profile arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:user-profile/{domain_id}/alice "
        "does not exist.",
        400,
    )
    assert len(presigned_tokens) == 0


def test_profile_of_another_account_is_not_found(aws: Aws) -> None:
    spoke = aws.client("sagemaker", aws.spoke_credentials())
    domain_id = make_domain(spoke)
    make_profile(spoke, domain_id)
    hub = aws.client("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        hub.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    assert len(presigned_tokens) == 0


def test_sso_domain_is_refused(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm, auth_mode="SSO")
    make_profile(sm, domain_id)
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == (
        "ValidationException",
        f"Domain {domain_id} uses SSO authentication. "
        "CreatePresignedDomainUrl is supported only for domains in IAM mode.",
        400,
    )
    assert len(presigned_tokens) == 0


@pytest.mark.parametrize("status", ["Pending", "Failed", "Updating", "Deleting"])
def test_profile_must_be_in_service(in_process: Aws, status: str) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    set_profile_status(HUB_ACCOUNT, REGION, domain_id, "alice", status)
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == (
        "ValidationException",
        f"User profile alice in domain {domain_id} is in {status} status. A presigned URL can "
        "be created only for a user profile in InService status.",
        400,
    )
    assert len(presigned_tokens) == 0


def test_pending_profile_becomes_presignable(aws: Aws) -> None:
    settings.configure(profile_delay_seconds=0.15)
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    make_profile(sm, domain_id)
    with pytest.raises(ClientError) as excinfo:
        sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert "is in Pending status" in error_of(excinfo)[1]
    time.sleep(0.2)
    url = sm.create_presigned_domain_url(DomainId=domain_id, UserProfileName="alice")
    assert redeem_presigned_token(token_of(url["AuthorizedUrl"])).user_profile_name == "alice"
