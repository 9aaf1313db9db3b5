"""CloudFormation StackSets as the rollout needs them, on top of moto's CloudFormation."""

from __future__ import annotations

from .models import ExtendedCloudFormationBackend

__all__ = ["ExtendedCloudFormationBackend"]
