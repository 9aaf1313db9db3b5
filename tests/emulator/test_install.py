"""install(): idempotent, reaches existing backends, and creates are race-safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from botocore.exceptions import ClientError
from moto import mock_aws
from moto.sagemaker.models import SageMakerModelBackend, sagemaker_backends

from broker.emulator import install, installed
from broker.emulator.sagemaker import ExtendedSageMakerBackend

from .conftest import Aws, make_domain


def test_install_is_idempotent() -> None:
    install()
    install()
    assert installed()
    assert sagemaker_backends.backend is ExtendedSageMakerBackend


def test_install_upgrades_backends_that_already_exist() -> None:
    with mock_aws():
        sagemaker_backends.backend = SageMakerModelBackend
        try:
            old = sagemaker_backends["333333333333"]["us-east-1"]
            assert not isinstance(old, ExtendedSageMakerBackend)
            old.create_domain("early", "IAM", {}, ["s"], "v", None, None, None, None, None, None, None)
        finally:
            install()
        upgraded = sagemaker_backends["333333333333"]["us-east-1"]
        assert upgraded is old and isinstance(upgraded, ExtendedSageMakerBackend)
        profile = upgraded.create_user_profile("d-early", "alice")
        assert upgraded.describe_user_profile("d-early", "alice") is profile
        assert isinstance(sagemaker_backends["333333333333"]["eu-west-1"], ExtendedSageMakerBackend)


def test_concurrent_creates_of_one_name_make_one_profile(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)

    def create(_: int) -> str:
        try:
            sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
        except ClientError as error:
            return error.response["Error"]["Code"]
        return "created"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(create, range(8)))
    assert outcomes == ["ResourceInUse"] * 7 + ["created"]
    profiles = sm.list_user_profiles()["UserProfiles"]
    assert [p["UserProfileName"] for p in profiles] == ["alice"]
