"""The moto internals the emulator relies on, pinned.

moto is pinned exactly (pyproject.toml). When an upgrade breaks one of these,
the failing test names the internal and the emulator code that uses it.
"""

from __future__ import annotations

import inspect

import botocore.session
import pytest
from moto import mock_aws
from moto.core.base_backend import AccountSpecificBackend, BackendDict, BaseBackend
from moto.core.exceptions import ServiceException
from moto.core.responses import BaseResponse
from moto.core.utils import method_names_from_class
from moto.sagemaker import urls as moto_urls
from moto.sagemaker.exceptions import SagemakerClientError
from moto.sagemaker.models import Domain, SageMakerModelBackend, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from moto.server import ThreadedMotoServer

from broker.emulator import install
from broker.emulator.sagemaker import ExtendedSageMakerBackend, PresignedToken, presigned_tokens
from broker.emulator.sagemaker.models import PROFILE_STATUSES
from broker.emulator.sagemaker.responses import ExtendedSageMakerResponse

BROKEN = "moto internals changed; broker/emulator relies on this: "


def parameters(function: object) -> list[str]:
    return list(inspect.signature(function).parameters)  # type: ignore[arg-type]


def test_backend_class_swap_reaches_new_backends() -> None:
    install()
    assert isinstance(sagemaker_backends, BackendDict), BROKEN + "sagemaker_backends type"
    assert sagemaker_backends.backend is ExtendedSageMakerBackend, (
        BROKEN + "BackendDict.backend (install() swaps it)"
    )
    with mock_aws():
        backend = sagemaker_backends["222222222222"]["eu-west-1"]
        account = sagemaker_backends["222222222222"]
    assert isinstance(account, AccountSpecificBackend) and hasattr(account, "backend"), (
        BROKEN + "AccountSpecificBackend.backend (install() upgrades existing accounts)"
    )
    assert isinstance(backend, ExtendedSageMakerBackend), (
        BROKEN + "AccountSpecificBackend builds region backends from BackendDict.backend"
    )


def test_urls_come_from_the_backend_url_module() -> None:
    assert isinstance(inspect.getattr_static(BaseBackend, "_url_module"), property), (
        BROKEN + "BaseBackend._url_module (ExtendedSageMakerBackend points it at responses.py)"
    )
    assert hasattr(moto_urls, "url_bases") and hasattr(moto_urls, "url_paths"), (
        BROKEN + "moto.sagemaker.urls.url_bases/url_paths"
    )
    backend = ExtendedSageMakerBackend("us-east-1", "123456789012")
    for name in ("urls", "flask_paths"):
        handlers = set(getattr(backend, name).values())
        assert handlers == {ExtendedSageMakerResponse.dispatch}, (
            BROKEN + f"BaseBackend.{name} must route SageMaker to ExtendedSageMakerResponse"
        )


def test_actions_are_found_by_method_name() -> None:
    source = inspect.getsource(BaseResponse.call_action)
    assert "method_names_from_class(self.__class__)" in source and "getattr(self, action)" in (source), (
        BROKEN + "BaseResponse.call_action looks actions up by method name on the class"
    )
    actions = set(method_names_from_class(ExtendedSageMakerResponse))
    for action in (
        "create_user_profile",
        "describe_user_profile",
        "list_user_profiles",
        "update_user_profile",
        "delete_user_profile",
        "create_presigned_domain_url",
        "describe_domain",
    ):
        assert action in actions, BROKEN + f"action {action} not visible to call_action"
    assert isinstance(inspect.getattr_static(SageMakerResponse, "sagemaker_backend"), property), (
        BROKEN + "SageMakerResponse.sagemaker_backend"
    )
    assert callable(SageMakerResponse._get_param), BROKEN + "BaseResponse._get_param"


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        ("_get_resource_from_arn", ["self", "arn"]),
        ("add_tags", ["self", "arn", "tags"]),
        ("delete_tags", ["self", "arn", "tag_keys"]),
        ("describe_domain", ["self", "domain_id"]),
        ("delete_domain", ["self", "domain_id", "retention_policy"]),
        ("iter_tagged_resources", ["self"]),
        ("reset", ["self"]),
    ],
)
def test_overridden_backend_methods_keep_their_signature(method: str, expected: list[str]) -> None:
    assert parameters(getattr(SageMakerModelBackend, method)) == expected, (
        BROKEN + f"SageMakerModelBackend.{method} signature"
    )


def test_tag_methods_resolve_through_get_resource_from_arn() -> None:
    for method in ("add_tags", "list_tags", "delete_tags"):
        source = inspect.getsource(getattr(SageMakerModelBackend, method))
        assert "self._get_resource_from_arn(arn)" in source, (
            BROKEN + f"SageMakerModelBackend.{method} must use _get_resource_from_arn"
        )


def test_domain_model() -> None:
    backend = SageMakerModelBackend("us-east-1", "123456789012")
    assert backend.domains == {}, BROKEN + "SageMakerModelBackend.domains dict"
    with mock_aws():
        install()
        extended = sagemaker_backends["123456789012"]["us-east-1"]
        extended.create_domain(
            domain_name="x",
            auth_mode="IAM",
            default_user_settings={"ExecutionRole": "arn:aws:iam::123456789012:role/r"},
            subnet_ids=["s"],
            vpc_id="v",
            domain_settings=None,
            tags=None,
            app_network_access_type=None,
            home_efs_file_system_kms_key_id=None,
            kms_key_id=None,
            app_security_group_management=None,
            default_space_settings=None,
        )
        domain = extended.domains["d-x"]
    assert isinstance(domain, Domain), BROKEN + "domains are keyed by id 'd-<name>'"
    assert domain.auth_mode == "IAM", BROKEN + "Domain.auth_mode"
    assert domain.default_user_settings["ExecutionRole"], BROKEN + "Domain.default_user_settings"
    assert domain.describe()["DomainId"] == "d-x", BROKEN + "Domain.describe()"


def test_reset_reaches_region_backends() -> None:
    install()
    with mock_aws():
        backend = sagemaker_backends["123456789012"]["us-east-1"]
        presigned_tokens.issue(
            PresignedToken(
                token="contract",
                account_id=backend.account_id,
                region=backend.region_name,
                domain_id="d-x",
                user_profile_name="p",
                execution_role=None,
                landing_uri=None,
                space_name=None,
                session_expiration_seconds=1800,
                issued_at=0.0,
                expires_at=1.0,
            )
        )
    assert presigned_tokens.peek("contract") is None, (
        BROKEN + "mock_aws() stop -> BackendDict.reset -> each region backend's reset()"
    )


def test_errors_serialise_by_code() -> None:
    assert issubclass(SagemakerClientError, ServiceException), (
        BROKEN + "SagemakerClientError is a ServiceException (serialised with its code)"
    )
    assert hasattr(ServiceException, "code"), BROKEN + "ServiceException.code"


def test_threaded_server_api() -> None:
    assert parameters(ThreadedMotoServer.__init__) == ["self", "ip_address", "port", "verbose"], (
        BROKEN + "ThreadedMotoServer(ip_address, port, verbose)"
    )
    for method in ("start", "stop", "get_host_and_port"):
        assert callable(getattr(ThreadedMotoServer, method, None)), BROKEN + f"ThreadedMotoServer.{method}"


def test_botocore_sagemaker_model() -> None:
    model = botocore.session.get_session().get_service_model("sagemaker")
    assert set(model.shape_for("UserProfileStatus").enum) == PROFILE_STATUSES, (
        "botocore's UserProfileStatus changed: update PROFILE_STATUSES"
    )
    errors = {shape.name for shape in model.error_shapes}
    assert {"ResourceNotFound", "ResourceInUse", "ResourceLimitExceeded"} <= errors
    presign = model.operation_model("CreatePresignedDomainUrl").input_shape.members
    assert set(presign) == {
        "DomainId",
        "UserProfileName",
        "SessionExpirationDurationInSeconds",
        "ExpiresInSeconds",
        "SpaceName",
        "LandingUri",
    }, "botocore's CreatePresignedDomainUrl parameters changed: update the emulator"
