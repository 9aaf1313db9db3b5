"""The Identity Store calls the broker makes, over both modes, and memberships that follow deletions."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import Aws

STORE = "d-1234567890"


def user(ids: object, name: str) -> str:
    return str(ids.create_user(  # type: ignore[attr-defined]
        IdentityStoreId=STORE, UserName=name, DisplayName=name.title(),
        Name={"GivenName": name.title(), "FamilyName": "Test"},
        Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"])


def groups_of(ids: object, user_id: str) -> list[str]:
    pages = ids.get_paginator("list_group_memberships_for_member").paginate(  # type: ignore[attr-defined]
        IdentityStoreId=STORE, MemberId={"UserId": user_id}, PaginationConfig={"PageSize": 1})
    return sorted(m["GroupId"] for page in pages for m in page["GroupMemberships"])


def test_the_lookups_the_broker_makes(aws: Aws) -> None:
    ids = aws.client("identitystore")
    alice = user(ids, "alice")
    by_name = ids.get_user_id(IdentityStoreId=STORE, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "userName", "AttributeValue": "alice"}})["UserId"]
    by_email = ids.get_user_id(IdentityStoreId=STORE, AlternateIdentifier={
        "UniqueAttribute": {"AttributePath": "emails.value", "AttributeValue": "alice@example.com"},
    })["UserId"]
    assert by_name == by_email == alice
    group_ids = [ids.create_group(IdentityStoreId=STORE, DisplayName=n)["GroupId"] for n in ("g1", "g2")]
    for group_id in group_ids:
        ids.create_group_membership(IdentityStoreId=STORE, GroupId=group_id, MemberId={"UserId": alice})
    assert groups_of(ids, alice) == sorted(group_ids)  # paginated one per page
    assert ids.describe_group(IdentityStoreId=STORE, GroupId=group_ids[0])["DisplayName"] == "g1"


def test_deleting_a_user_or_group_removes_their_memberships(aws: Aws) -> None:
    ids = aws.client("identitystore")
    alice, bob = user(ids, "alice"), user(ids, "bob")
    g1 = ids.create_group(IdentityStoreId=STORE, DisplayName="g1")["GroupId"]
    g2 = ids.create_group(IdentityStoreId=STORE, DisplayName="g2")["GroupId"]
    for member, group in ((alice, g1), (alice, g2), (bob, g1)):
        ids.create_group_membership(IdentityStoreId=STORE, GroupId=group, MemberId={"UserId": member})
    ids.delete_user(IdentityStoreId=STORE, UserId=alice)
    assert groups_of(ids, alice) == []
    with pytest.raises(ClientError) as gone:
        ids.describe_user(IdentityStoreId=STORE, UserId=alice)
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    ids.delete_group(IdentityStoreId=STORE, GroupId=g1)
    assert groups_of(ids, bob) == []


def test_the_moto_internals_the_extension_relies_on() -> None:
    """moto is pinned; when an upgrade changes these, the extension's deletes stop cascading."""
    from moto.identitystore.models import IdentityStoreBackend, IdentityStoreData

    from broker.emulator import install
    from broker.emulator.identitystore import ExtendedIdentityStoreBackend

    install()
    backend = ExtendedIdentityStoreBackend("us-east-1", "123456789012")
    assert backend.identity_stores == {}, "IdentityStoreBackend.identity_stores (store id -> data)"
    data = IdentityStoreData()
    assert data.group_memberships == {}, "IdentityStoreData.group_memberships (id -> membership dict)"
    assert issubclass(ExtendedIdentityStoreBackend, IdentityStoreBackend)
    assert backend._url_module.__name__ == "moto.identitystore.urls"
