"""CloudFormation StackSets as the rollout needs them, on top of moto's CloudFormation."""

from __future__ import annotations

from . import ec2 as _ec2  # noqa: F401 - registers the models (before moto builds its registry)
from .conditions import install as _install_conditional_updates
from .models import ExtendedCloudFormationBackend

_install_conditional_updates()

__all__ = ["ExtendedCloudFormationBackend"]
