"""User profiles: create, describe, list, update, delete, status, tags, accounts."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from broker.emulator import set_profile_status, settings

from .conftest import HUB_ACCOUNT, REGION, ROLE_ARN, SPOKE_ACCOUNT, Aws, error_of, make_domain

PATTERN = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}"
PROFILE_ARN = f"arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:user-profile/d-team-a/alice"


def names(sagemaker: object, **filters: str) -> list[str]:
    profiles = sagemaker.list_user_profiles(MaxResults=100, **filters)["UserProfiles"]  # type: ignore[attr-defined]
    return sorted(p["UserProfileName"] for p in profiles)


def test_create_then_describe(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    created = sm.create_user_profile(
        DomainId=domain_id,
        UserProfileName="alice",
        Tags=[{"Key": "Team", "Value": "team-a"}],
        UserSettings={"ExecutionRole": ROLE_ARN},
    )
    assert created["UserProfileArn"] == PROFILE_ARN

    profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert profile["UserProfileArn"] == PROFILE_ARN
    assert profile["DomainId"] == "d-team-a"
    assert profile["UserProfileName"] == "alice"
    assert profile["Status"] == "InService"
    assert profile["UserSettings"] == {"ExecutionRole": ROLE_ARN}
    assert profile["HomeEfsFileSystemUid"] == "200001"
    assert profile["CreationTime"] <= profile["LastModifiedTime"]
    tags = sm.list_tags(ResourceArn=PROFILE_ARN)["Tags"]
    assert tags == [{"Key": "Team", "Value": "team-a"}]


def test_create_in_missing_domain_is_resource_not_found(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.create_user_profile(DomainId="d-nope", UserProfileName="alice")
    assert error_of(excinfo) == (
        "ResourceNotFound",
        f"Domain arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:domain/d-nope does not exist.",
        400,
    )
    assert names(sm) == []


@pytest.mark.parametrize(
    ("name", "count", "constraint"),
    [
        ("a_b", "1 validation error", f"regular expression pattern: {PATTERN}"),
        ("-alice", "1 validation error", "regular expression pattern"),
        ("alice-", "1 validation error", "regular expression pattern"),
        ("a" * 64, "2 validation errors", "Member must have length less than or equal to 63"),
        ("a-" * 32 + "b", "1 validation error", "length less than or equal to 63"),
    ],
)
def test_invalid_name_is_rejected(aws: Aws, name: str, count: str, constraint: str) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    with pytest.raises(ClientError) as excinfo:
        sm.create_user_profile(DomainId=domain_id, UserProfileName=name)
    code, message, status = error_of(excinfo)
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith(f"{count} detected: Value '{name}' at 'userProfileName'")
    assert constraint in message
    assert names(sm) == []


def test_longest_valid_name_is_accepted(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    name = "a-" * 31 + "b"
    assert len(name) == 63
    sm.create_user_profile(DomainId=domain_id, UserProfileName=name)
    assert names(sm) == [name]


def test_duplicate_name_is_resource_in_use(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice", Tags=[])
    with pytest.raises(ClientError) as excinfo:
        sm.create_user_profile(
            DomainId=domain_id,
            UserProfileName="alice",
            Tags=[{"Key": "Team", "Value": "other"}],
        )
    assert error_of(excinfo) == (
        "ResourceInUse",
        "Resource Already Exists: UserProfile with name alice already exists. Choose a different name.",
        400,
    )
    assert names(sm) == ["alice"]
    assert sm.list_tags(ResourceArn=PROFILE_ARN)["Tags"] == []


def test_same_name_in_two_domains_is_fine(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    first, second = make_domain(sm, "team-a"), make_domain(sm, "team-b")
    sm.create_user_profile(DomainId=first, UserProfileName="alice")
    sm.create_user_profile(DomainId=second, UserProfileName="alice")
    assert names(sm, DomainIdEquals=first) == ["alice"]
    assert names(sm, DomainIdEquals=second) == ["alice"]


def test_quota_per_domain(aws: Aws) -> None:
    settings.configure(profile_quota_per_domain=2)
    sm = aws.client("sagemaker")
    domain_id, other = make_domain(sm, "team-a"), make_domain(sm, "team-b")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="bob")
    with pytest.raises(ClientError) as excinfo:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="carol")
    assert error_of(excinfo) == (
        "ResourceLimitExceeded",
        "The account-level service limit 'Maximum number of user profiles per domain' is 2 "
        "UserProfiles, with current utilization of 2 UserProfiles and a request delta of 1 "
        "UserProfiles. Please use AWS Service Quotas to request an increase for this quota.",
        400,
    )
    assert names(sm, DomainIdEquals=domain_id) == ["alice", "bob"]
    # The quota is per domain, and a deleted profile frees its slot.
    sm.create_user_profile(DomainId=other, UserProfileName="carol")
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="bob")
    sm.create_user_profile(DomainId=domain_id, UserProfileName="carol")
    assert names(sm, DomainIdEquals=domain_id) == ["alice", "carol"]


def test_describe_missing_profile(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    with pytest.raises(ClientError) as excinfo:
        sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == ("ResourceNotFound", f"User profile {PROFILE_ARN} does not exist.", 400)


def test_pending_then_in_service_after_delay(aws: Aws) -> None:
    settings.configure(profile_delay_seconds=0.2)
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["Status"] == "Pending"
    time.sleep(0.25)
    profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert profile["Status"] == "InService"
    assert profile["LastModifiedTime"] > profile["CreationTime"]


def test_delete_goes_through_deleting(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    settings.configure(profile_delay_seconds=0.2)
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["Status"] == "Deleting"
    with pytest.raises(ClientError) as excinfo:
        sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo)[0] == "ResourceInUse"
    with pytest.raises(ClientError) as excinfo:
        sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == (
        "ResourceInUse",
        f"User profile {PROFILE_ARN} is already being deleted.",
        400,
    )
    time.sleep(0.25)
    with pytest.raises(ClientError) as excinfo:
        sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    assert names(sm) == []


def test_delete_missing_profile(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    with pytest.raises(ClientError) as excinfo:
        sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert error_of(excinfo) == ("ResourceNotFound", f"User profile {PROFILE_ARN} does not exist.", 400)


def test_delete_with_no_delay_is_immediate(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert names(sm) == []
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert names(sm) == ["alice"]


def test_update_merges_settings(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(
        DomainId=domain_id, UserProfileName="alice", UserSettings={"ExecutionRole": ROLE_ARN}
    )
    settings.configure(profile_delay_seconds=30)
    sm.update_user_profile(
        DomainId=domain_id, UserProfileName="alice", UserSettings={"SecurityGroups": ["sg-1"]}
    )
    profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert profile["Status"] == "Updating"
    assert profile["UserSettings"] == {"ExecutionRole": ROLE_ARN, "SecurityGroups": ["sg-1"]}
    with pytest.raises(ClientError) as excinfo:
        sm.update_user_profile(DomainId=domain_id, UserProfileName="alice", UserSettings={})
    assert error_of(excinfo) == (
        "ResourceInUse",
        f"User profile {PROFILE_ARN} is in Updating status and cannot be updated.",
        400,
    )


@pytest.mark.parametrize("status", ["Failed", "Deleting", "Updating", "Pending"])
def test_set_profile_status_pins_status(in_process: Aws, status: str) -> None:
    settings.configure(profile_delay_seconds=0.01)
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    set_profile_status(HUB_ACCOUNT, REGION, domain_id, "alice", status)
    time.sleep(0.02)
    assert sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["Status"] == status


def test_set_profile_status_rejects_unknown_status_and_profile(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    with pytest.raises(ValueError, match="unknown user profile status 'Broken'"):
        set_profile_status(HUB_ACCOUNT, REGION, domain_id, "alice", "Broken")
    with pytest.raises(Exception, match="does not exist"):
        set_profile_status(HUB_ACCOUNT, REGION, domain_id, "bob", "Failed")
    assert sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["Status"] == "InService"


def test_list_filters_and_sorts(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    first, second = make_domain(sm, "team-a"), make_domain(sm, "team-b")
    for name in ("alice", "bob", "alina"):
        sm.create_user_profile(DomainId=first, UserProfileName=name)
    sm.create_user_profile(DomainId=second, UserProfileName="alex")

    assert names(sm) == ["alex", "alice", "alina", "bob"]
    assert names(sm, DomainIdEquals=first) == ["alice", "alina", "bob"]
    assert names(sm, DomainIdEquals=first, UserProfileNameContains="li") == ["alice", "alina"]
    assert names(sm, UserProfileNameContains="Li") == []
    newest_first = sm.list_user_profiles(DomainIdEquals=first)["UserProfiles"]
    assert [p["UserProfileName"] for p in newest_first] == ["alina", "bob", "alice"]
    oldest_first = sm.list_user_profiles(DomainIdEquals=first, SortOrder="Ascending")
    assert [p["UserProfileName"] for p in oldest_first["UserProfiles"]] == ["alice", "bob", "alina"]
    summary = newest_first[0]
    assert set(summary) == {"DomainId", "UserProfileName", "Status", "CreationTime", "LastModifiedTime"}


def test_list_paginates(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    for index in range(12):
        sm.create_user_profile(DomainId=domain_id, UserProfileName=f"user-{index:02d}")
    first = sm.list_user_profiles(SortOrder="Ascending")
    assert len(first["UserProfiles"]) == 10  # AWS's default page size
    second = sm.list_user_profiles(SortOrder="Ascending", NextToken=first["NextToken"])
    assert "NextToken" not in second
    seen = [p["UserProfileName"] for p in first["UserProfiles"] + second["UserProfiles"]]
    assert seen == [f"user-{index:02d}" for index in range(12)]
    pages = sm.get_paginator("list_user_profiles").paginate(PaginationConfig={"PageSize": 5})
    assert sum(len(page["UserProfiles"]) for page in pages) == 12


def test_list_rejects_bad_parameters(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.list_user_profiles(MaxResults=101)
    assert error_of(excinfo) == (
        "ValidationException",
        "1 validation error detected: Value '101' at 'maxResults' failed to satisfy "
        "constraint: Member must have value less than or equal to 100",
        400,
    )
    with pytest.raises(ClientError) as excinfo:
        sm.list_user_profiles(NextToken="not-a-token")
    assert error_of(excinfo) == ("ValidationException", "Invalid pagination token", 400)
    with pytest.raises(ClientError) as excinfo:
        sm.list_user_profiles(SortBy="Name")
    assert error_of(excinfo)[0] == "ValidationException"


def test_tags_on_profile_arn(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(
        DomainId=domain_id, UserProfileName="alice", Tags=[{"Key": "Team", "Value": "team-a"}]
    )
    sm.add_tags(
        ResourceArn=PROFILE_ARN,
        Tags=[{"Key": "Team", "Value": "team-b"}, {"Key": "User", "Value": "alice"}],
    )
    assert sm.list_tags(ResourceArn=PROFILE_ARN)["Tags"] == [
        {"Key": "Team", "Value": "team-b"},
        {"Key": "User", "Value": "alice"},
    ]
    sm.delete_tags(ResourceArn=PROFILE_ARN, TagKeys=["Team"])
    assert sm.list_tags(ResourceArn=PROFILE_ARN)["Tags"] == [{"Key": "User", "Value": "alice"}]
    # Domain tags still go through moto's own resolver.
    domain_arn = f"arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:domain/{domain_id}"
    sm.add_tags(ResourceArn=domain_arn, Tags=[{"Key": "Owner", "Value": "cloud"}])
    assert {"Key": "Owner", "Value": "cloud"} in sm.list_tags(ResourceArn=domain_arn)["Tags"]


def test_tags_on_missing_or_foreign_profile_arn(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    make_domain(sm)
    foreign = PROFILE_ARN.replace(HUB_ACCOUNT, SPOKE_ACCOUNT)
    for arn in (PROFILE_ARN, foreign):
        with pytest.raises(ClientError) as excinfo:
            sm.list_tags(ResourceArn=arn)
        assert error_of(excinfo) == (
            "ValidationException",
            f"Could not find user-profile with ARN {arn}",
            400,
        )


def test_tagging_api_sees_profiles(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(
        DomainId=domain_id, UserProfileName="alice", Tags=[{"Key": "Team", "Value": "team-a"}]
    )
    tagging = in_process.client("resourcegroupstaggingapi")
    found = tagging.get_resources(TagFilters=[{"Key": "Team", "Values": ["team-a"]}])
    assert [r["ResourceARN"] for r in found["ResourceTagMappingList"]] == [PROFILE_ARN]


def test_profiles_land_in_the_assumed_account(aws: Aws) -> None:
    hub = aws.client("sagemaker")
    spoke = aws.client("sagemaker", aws.spoke_credentials())
    spoke_domain = make_domain(spoke)
    created = spoke.create_user_profile(DomainId=spoke_domain, UserProfileName="alice")
    assert created["UserProfileArn"] == PROFILE_ARN.replace(HUB_ACCOUNT, SPOKE_ACCOUNT)

    # Account A's profile is invisible in account B, even with a same-named domain.
    with pytest.raises(ClientError) as excinfo:
        hub.describe_user_profile(DomainId=spoke_domain, UserProfileName="alice")
    assert error_of(excinfo)[0] == "ResourceNotFound"
    make_domain(hub)
    assert names(hub) == []
    hub.create_user_profile(DomainId=spoke_domain, UserProfileName="alice")
    assert names(spoke) == ["alice"]
    assert hub.list_tags(ResourceArn=PROFILE_ARN)["Tags"] == []


def test_describe_missing_domain_is_resource_not_found(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    with pytest.raises(ClientError) as excinfo:
        sm.describe_domain(DomainId="d-nope")
    assert error_of(excinfo) == (
        "ResourceNotFound",
        f"Domain arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:domain/d-nope does not exist.",
        400,
    )


def test_domain_with_profiles_cannot_be_deleted(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    with pytest.raises(ClientError) as excinfo:
        sm.delete_domain(DomainId=domain_id)
    assert error_of(excinfo) == (
        "ResourceInUse",
        "Domain d-team-a has user profiles. Delete them before the domain.",
        400,
    )
    assert sm.describe_domain(DomainId=domain_id)["DomainId"] == domain_id
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    sm.delete_domain(DomainId=domain_id)
    with pytest.raises(ClientError) as excinfo:
        sm.delete_domain(DomainId=domain_id)
    assert error_of(excinfo)[0] == "ResourceNotFound"
