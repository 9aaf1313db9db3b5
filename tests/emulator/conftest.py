"""Fixtures: fake credentials, the emulator installed, clients in both modes.

``aws`` runs a test twice: in-process under ``moto.mock_aws()`` and against a
moto server started in this process (the state is reset around each test).
"""

from __future__ import annotations

import functools
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from broker.emulator import install, settings
from broker.emulator.server import start_server

REGION = "us-east-1"
HUB_ACCOUNT = "123456789012"
SPOKE_ACCOUNT = "111111111111"
ROLE_ARN = f"arn:aws:iam::{HUB_ACCOUNT}:role/team-a-execution"


@pytest.fixture(autouse=True)
def fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_SAGEMAKER",
        "AWS_ENDPOINT_URL_STS",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "MOTO_ACCOUNT_ID",
        settings.ENV_PROFILE_DELAY_SECONDS,
        settings.ENV_PROFILE_QUOTA,
        settings.ENV_STUDIO_BASE_URL,
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture(autouse=True)
def emulator(fake_aws_env: None) -> Iterator[None]:
    install()
    settings.reset()
    yield
    settings.reset()


@functools.cache
def _session() -> boto3.session.Session:
    # mock_aws() drops boto3's default session; one kept here loads each
    # service model once per run instead of once per test (most of the time).
    return boto3.session.Session()


@dataclass(frozen=True)
class Aws:
    """Makes boto3 clients for the mode under test."""

    mode: str
    endpoint_url: str | None

    def client(
        self,
        service: str,
        credentials: dict[str, str] | None = None,
        *,
        validate: bool = True,
    ) -> Any:
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        if credentials:
            keys = {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
        return _session().client(
            service,
            region_name=REGION,
            endpoint_url=self.endpoint_url,
            config=Config(parameter_validation=validate, retries={"max_attempts": 1}),
            **keys,
        )

    def spoke_credentials(self, account_id: str = SPOKE_ACCOUNT) -> dict[str, str]:
        role = f"arn:aws:iam::{account_id}:role/broker-access"
        response = self.client("sts").assume_role(RoleArn=role, RoleSessionName="test")
        return response["Credentials"]


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    install()
    server, url = start_server()
    yield url
    server.stop()


def reset_server(url: str) -> None:
    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


@pytest.fixture(params=["in-process", "server"])
def aws(request: pytest.FixtureRequest) -> Iterator[Aws]:
    if request.param == "in-process":
        with mock_aws():
            yield Aws("in-process", None)
        return
    url = request.getfixturevalue("server_url")
    reset_server(url)
    yield Aws("server", url)
    reset_server(url)


@pytest.fixture
def in_process() -> Iterator[Aws]:
    with mock_aws():
        yield Aws("in-process", None)


def make_domain(sagemaker: Any, name: str = "team-a", auth_mode: str = "IAM", role: str = ROLE_ARN) -> str:
    """Create a domain and return its id."""
    arn = sagemaker.create_domain(
        DomainName=name,
        AuthMode=auth_mode,
        DefaultUserSettings={"ExecutionRole": role},
        SubnetIds=["subnet-1"],
        VpcId="vpc-1",
    )["DomainArn"]
    return arn.rsplit("/", 1)[1]


def error_of(excinfo: pytest.ExceptionInfo[Any]) -> tuple[str, str, int]:
    """(code, message, HTTP status) of a botocore ClientError."""
    response = excinfo.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )
