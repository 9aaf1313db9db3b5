"""The Identity Store: moto's, with memberships removed with their user or group."""

from __future__ import annotations

from .models import ExtendedIdentityStoreBackend

__all__ = ["ExtendedIdentityStoreBackend"]
