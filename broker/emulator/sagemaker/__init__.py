"""SageMaker as moto lacks it: user profiles, apps, spaces and CreatePresignedDomainUrl."""

from __future__ import annotations

from .exceptions import (
    InvalidPresignedToken,
    PresignedTokenAlreadyUsed,
    PresignedTokenExpired,
    ResourceInUse,
    ResourceLimitExceeded,
    ResourceNotFound,
    UnknownPresignedToken,
    ValidationException,
)
from .models import (
    ExtendedSageMakerBackend,
    UserProfile,
    backend_for,
    redeem_presigned_token,
    set_profile_status,
)
from .tokens import PresignedToken, presigned_tokens

__all__ = [
    "ExtendedSageMakerBackend",
    "InvalidPresignedToken",
    "PresignedToken",
    "PresignedTokenAlreadyUsed",
    "PresignedTokenExpired",
    "ResourceInUse",
    "ResourceLimitExceeded",
    "ResourceNotFound",
    "UnknownPresignedToken",
    "UserProfile",
    "ValidationException",
    "backend_for",
    "presigned_tokens",
    "redeem_presigned_token",
    "set_profile_status",
]
