"""Apps and spaces: their lifecycle, and the order SageMaker requires to delete a profile."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from broker.emulator import backend_for, settings

from .conftest import HUB_ACCOUNT, REGION, ROLE_ARN, Aws, make_domain


def code_of(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return str(excinfo.value.response["Error"]["Code"])


def profile_with_app_and_space(sm: object) -> str:
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice",  # type: ignore[attr-defined]
                           UserSettings={"ExecutionRole": ROLE_ARN})
    sm.create_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterServer",  # type: ignore[attr-defined]
                  AppName="default")
    sm.create_space(DomainId=domain_id, SpaceName="alice-space",  # type: ignore[attr-defined]
                    OwnershipSettings={"OwnerUserProfileName": "alice"},
                    SpaceSharingSettings={"SharingType": "Private"})
    sm.create_app(DomainId=domain_id, SpaceName="alice-space", AppType="JupyterLab",  # type: ignore[attr-defined]
                  AppName="default")
    return domain_id


def test_a_profile_with_apps_or_spaces_cannot_be_deleted_until_they_are_gone(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = profile_with_app_and_space(sm)

    with pytest.raises(ClientError) as refused:
        sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert code_of(refused) == "ResourceInUse"

    sm.delete_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterServer", AppName="default")
    with pytest.raises(ClientError) as space_in_use:
        sm.delete_space(DomainId=domain_id, SpaceName="alice-space")
    assert code_of(space_in_use) == "ResourceInUse"  # its own app is still there
    sm.delete_app(DomainId=domain_id, SpaceName="alice-space", AppType="JupyterLab", AppName="default")
    with pytest.raises(ClientError) as still_owns_space:
        sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert code_of(still_owns_space) == "ResourceInUse"

    sm.delete_space(DomainId=domain_id, SpaceName="alice-space")
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert sm.list_user_profiles(DomainIdEquals=domain_id)["UserProfiles"] == []
    assert sm.list_spaces(DomainIdEquals=domain_id)["Spaces"] == []
    # Deleted apps stay listed, as Deleted
    assert {a["Status"] for a in sm.list_apps(DomainIdEquals=domain_id)["Apps"]} == {"Deleted"}


def test_listing_filters_by_owner_and_names_the_space_owner(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = profile_with_app_and_space(sm)
    mine = sm.list_apps(DomainIdEquals=domain_id, UserProfileNameEquals="alice")["Apps"]
    assert [(a["AppType"], a["Status"]) for a in mine] == [("JupyterServer", "InService")]
    in_space = sm.list_apps(DomainIdEquals=domain_id, SpaceNameEquals="alice-space")["Apps"]
    assert [a["AppType"] for a in in_space] == ["JupyterLab"]
    spaces = sm.list_spaces(DomainIdEquals=domain_id)["Spaces"]
    assert [s["OwnershipSettingsSummary"]["OwnerUserProfileName"] for s in spaces] == ["alice"]
    app = sm.describe_app(DomainId=domain_id, UserProfileName="alice", AppType="JupyterServer",
                          AppName="default")
    assert app["AppArn"] == (f"arn:aws:sagemaker:{REGION}:{HUB_ACCOUNT}:app/{domain_id}/alice/"
                             "jupyterserver/default")


def test_app_deletion_goes_deleting_then_deleted_and_only_in_service_apps_delete(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="bob")
    settings.configure(profile_delay_seconds=0.2)
    app = {"DomainId": domain_id, "UserProfileName": "bob", "AppType": "JupyterServer", "AppName": "default"}
    sm.create_app(**app)
    with pytest.raises(ClientError) as pending:
        sm.delete_app(**app)
    assert code_of(pending) == "ResourceInUse"
    time.sleep(0.25)
    sm.delete_app(**app)
    assert sm.describe_app(**app)["Status"] == "Deleting"
    with pytest.raises(ClientError) as deleting:
        sm.delete_user_profile(DomainId=domain_id, UserProfileName="bob")
    assert code_of(deleting) == "ResourceInUse"  # a Deleting app still blocks
    time.sleep(0.25)
    assert sm.describe_app(**app)["Status"] == "Deleted"
    with pytest.raises(ClientError) as gone:
        sm.delete_app(**app)
    assert code_of(gone) == "ResourceNotFound"
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="bob")


def test_a_failed_app_blocks_nothing(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="carol")
    sm.create_app(DomainId=domain_id, UserProfileName="carol", AppType="KernelGateway", AppName="k1")
    backend_for(HUB_ACCOUNT, REGION).set_app_status(domain_id, "KernelGateway", "k1", "carol", None, "Failed")
    sm.delete_user_profile(DomainId=domain_id, UserProfileName="carol")


def test_a_domain_with_spaces_cannot_be_deleted(in_process: Aws) -> None:
    sm = in_process.client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_space(DomainId=domain_id, SpaceName="shared")
    with pytest.raises(ClientError) as refused:
        sm.delete_domain(DomainId=domain_id)
    assert code_of(refused) == "ResourceInUse"


def test_apps_and_spaces_of_a_missing_owner_are_resource_not_found(aws: Aws) -> None:
    sm = aws.client("sagemaker")
    domain_id = make_domain(sm)
    with pytest.raises(ClientError) as no_profile:
        sm.create_app(DomainId=domain_id, UserProfileName="nobody", AppType="JupyterServer",
                      AppName="default")
    assert code_of(no_profile) == "ResourceNotFound"
    with pytest.raises(ClientError) as no_space:
        sm.describe_space(DomainId=domain_id, SpaceName="nope")
    assert code_of(no_space) == "ResourceNotFound"
