"""The ARNs the broker builds, in the partition botocore resolves for their region.

A hub reaches the spokes of its own partition only (``aws``, ``aws-cn``,
``aws-us-gov``, ...): credentials of one partition are not valid in another.
Every ARN the broker composes for a spoke (the broker-access role, an
execution role given by name, a user profile) takes its partition from the
spoke's region, read from the same data (botocore's ``partitions.json``) that
botocore's endpoint rules use to pick the endpoint the call goes to, so the
ARN and the endpoint never disagree.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def partition(region: str) -> str:
    """The AWS partition of ``region``: its listed partition, else the one whose region
    pattern matches, else ``aws`` (botocore's ``aws.partition`` endpoint-rule function)."""
    return str(_partitions().aws_partition(region)["name"])


@cache
def _partitions() -> Any:
    # botocore.endpoint_provider is what every client's endpoint resolution already imports;
    # partitions.json is a few KB (endpoints.json, behind Session.get_partition_for_region, ~1 MB).
    from botocore.endpoint_provider import RuleSetStandardLibrary
    from botocore.loaders import create_loader

    return RuleSetStandardLibrary(create_loader().load_data("partitions"))


def role_arn(region: str, account_id: str, role: str) -> str:
    """The ARN of IAM role ``role`` (a name, or ``path/name``) of ``account_id``, in ``region``'s
    partition."""
    return f"arn:{partition(region)}:iam::{account_id}:role/{role}"


def user_profile_arn(region: str, account_id: str, domain_id: str, name: str) -> str:
    """The ARN of SageMaker user profile ``name`` of domain ``domain_id``."""
    return f"arn:{partition(region)}:sagemaker:{region}:{account_id}:user-profile/{domain_id}/{name}"
