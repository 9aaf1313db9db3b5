"""ARNs in the region's partition, from botocore's own partition data."""

from __future__ import annotations

import botocore.session
import pytest

from broker.arns import partition, role_arn, user_profile_arn

SESSION = botocore.session.get_session()
KNOWN_REGIONS = sorted({region for listed in SESSION.get_data("endpoints")["partitions"]
                        for region in listed["regions"]})


def test_every_region_botocore_lists_gets_the_partition_its_public_api_names() -> None:
    # Session.get_partition_for_region reads endpoints.json; broker.arns reads partitions.json
    # (what the endpoint rules use). They must agree, or a botocore upgrade changed one of them.
    assert len(KNOWN_REGIONS) > 30
    assert {r: partition(r) for r in KNOWN_REGIONS} == {
        r: SESSION.get_partition_for_region(r) for r in KNOWN_REGIONS}


@pytest.mark.parametrize(("region", "expected"), [
    ("us-east-1", "aws"),
    ("eu-west-9", "aws"),  # not yet listed: the partition's region pattern decides
    ("cn-north-1", "aws-cn"),
    ("cn-northwest-9", "aws-cn"),
    ("us-gov-west-1", "aws-us-gov"),
    ("us-gov-south-7", "aws-us-gov"),
])
def test_a_region_gets_its_partition_listed_or_by_pattern(region: str, expected: str) -> None:
    assert partition(region) == expected


def test_role_and_profile_arns_carry_the_partition_of_their_region() -> None:
    assert role_arn("us-gov-west-1", "111111111111", "StudioBrokerAccess") == (
        "arn:aws-us-gov:iam::111111111111:role/StudioBrokerAccess")
    assert role_arn("cn-north-1", "111111111111", "teams/studio-x") == (
        "arn:aws-cn:iam::111111111111:role/teams/studio-x")
    assert role_arn("eu-west-1", "111111111111", "r") == "arn:aws:iam::111111111111:role/r"
    assert user_profile_arn("us-gov-east-1", "111111111111", "d-abc", "u--t") == (
        "arn:aws-us-gov:sagemaker:us-gov-east-1:111111111111:user-profile/d-abc/u--t")
