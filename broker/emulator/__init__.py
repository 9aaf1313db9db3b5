"""The emulator: moto plus what the broker needs and moto 5.2.5 lacks.

Used by the local stack, the benchmark and the tests; never imported by the
runtime broker. Call :func:`install` once, then any ``moto.mock_aws()`` (or a
moto server in this process, see :mod:`broker.emulator.server`) serves the
extended SageMaker.
"""

from __future__ import annotations

import threading

from moto.cloudformation.models import cloudformation_backends
from moto.identitystore.models import identitystore_backends
from moto.sagemaker.models import sagemaker_backends

from . import settings
from .cloudformation import ExtendedCloudFormationBackend
from .cloudformation import iam as _cloudformation_iam  # noqa: F401 - registers the model
from .identitystore import ExtendedIdentityStoreBackend
from .sagemaker import (
    ExtendedSageMakerBackend,
    InvalidPresignedToken,
    PresignedToken,
    PresignedTokenAlreadyUsed,
    PresignedTokenExpired,
    UnknownPresignedToken,
    backend_for,
    redeem_presigned_token,
    set_profile_status,
)
from .sagemaker import cloudformation as sagemaker_cloudformation

__all__ = [
    "InvalidPresignedToken",
    "PresignedToken",
    "PresignedTokenAlreadyUsed",
    "PresignedTokenExpired",
    "UnknownPresignedToken",
    "backend_for",
    "install",
    "installed",
    "redeem_presigned_token",
    "set_profile_status",
    "settings",
]

_install_lock = threading.Lock()


def install() -> None:
    """Make moto build the extended SageMaker and CloudFormation backends; safe to call repeatedly.

    moto keeps one ``BackendDict`` per service for the whole process and makes
    region backends from its ``backend`` class on first use, so swapping that
    class reaches every later mock. Backends that already exist (install()
    called while a mock is active) are upgraded in place.
    """
    with _install_lock:
        for backends, extended in ((sagemaker_backends, ExtendedSageMakerBackend),
                                   (cloudformation_backends, ExtendedCloudFormationBackend),
                                   (identitystore_backends, ExtendedIdentityStoreBackend)):
            backends.backend = extended
            for account_backends in list(backends.values()):
                account_backends.backend = extended
                for backend in list(account_backends.values()):
                    if not isinstance(backend, extended):
                        backend.__class__ = extended
                        backend.init_extension()
        sagemaker_cloudformation.register()


def installed() -> bool:
    """Whether :func:`install` is in force."""
    return (sagemaker_backends.backend is ExtendedSageMakerBackend
            and cloudformation_backends.backend is ExtendedCloudFormationBackend
            and identitystore_backends.backend is ExtendedIdentityStoreBackend)
