"""Errors of the emulated SageMaker: AWS error codes, plus presigned-token errors.

The AWS errors subclass moto's ``SagemakerClientError`` so moto serialises
them as the JSON protocol does (HTTP 400, ``__type`` = the code).
"""

from __future__ import annotations

from moto.sagemaker.exceptions import SagemakerClientError


class ValidationException(SagemakerClientError):
    code = "ValidationException"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ResourceNotFound(SagemakerClientError):
    code = "ResourceNotFound"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ResourceInUse(SagemakerClientError):
    code = "ResourceInUse"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class ResourceLimitExceeded(SagemakerClientError):
    code = "ResourceLimitExceeded"

    def __init__(self, message: str) -> None:
        super().__init__(message)


class InvalidPresignedToken(Exception):
    """A presigned-URL token that cannot be redeemed (base of the three causes)."""

    reason = "invalid"


class UnknownPresignedToken(InvalidPresignedToken):
    """No URL was ever issued with this token (or the emulator was reset)."""

    reason = "unknown"


class PresignedTokenAlreadyUsed(InvalidPresignedToken):
    """The token was redeemed before: presigned URLs are single use."""

    reason = "used"


class PresignedTokenExpired(InvalidPresignedToken):
    """The token is older than the ExpiresInSeconds it was issued with."""

    reason = "expired"
