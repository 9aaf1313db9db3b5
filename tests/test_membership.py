"""The membership resolver against the emulated Identity Store: lookups, cache, typed failures."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from broker import emulator
from broker.aws import AwsClients, within_deadline
from broker.config import DomainRef, IdentityStoreRef, RoutingTable, ServiceProvider, Team, frozen_mapping
from broker.exceptions import (
    IdentityStoreRefused,
    IdentityStoreThrottled,
    IdentityStoreUnavailable,
    IdentityStoreUnreachable,
)
from broker.membership import MembershipResolver, teams_of

STORE = "d-1234567890"
REGION = "us-east-1"
READER = "arn:aws:iam::999999999999:role/StudioBrokerIdentityStoreReader"
EXTERNAL_ID = "studio-broker-ids-test"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def people(mocked: None) -> dict[str, str]:
    """alice in data-science and ml-platform, bob in data-science, carol in none."""
    emulator.install()
    ids = store_admin()
    users = {}
    for name in ("alice", "bob", "carol"):
        users[name] = ids.create_user(
            IdentityStoreId=STORE, UserName=name, DisplayName=name.title(),
            Name={"GivenName": name.title(), "FamilyName": "Test"},
            Emails=[{"Value": f"{name}@example.com", "Primary": True}])["UserId"]
    groups = {n: ids.create_group(IdentityStoreId=STORE, DisplayName=n)["GroupId"]
              for n in ("data-science", "ml-platform")}
    for person, group in (("alice", "data-science"), ("alice", "ml-platform"), ("bob", "data-science")):
        ids.create_group_membership(IdentityStoreId=STORE, GroupId=groups[group],
                                    MemberId={"UserId": users[person]})
    return {**users, **{f"group:{k}": v for k, v in groups.items()}}


def store_admin() -> Any:
    """An Identity Store client in the Identity Center account (the reader role's, as in AWS)."""
    issued = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=READER, RoleSessionName="test-admin")["Credentials"]
    return boto3.client("identitystore", region_name=REGION, aws_access_key_id=issued["AccessKeyId"],
                        aws_secret_access_key=issued["SecretAccessKey"],
                        aws_session_token=issued["SessionToken"])


class Calls:
    """Identity Store and STS operations made through one AwsClients."""

    def __init__(self, clients: AwsClients) -> None:
        self.names: list[str] = []
        clients.register("provide-client-params", self._record)

    def _record(self, event_name: str, **_: Any) -> None:
        self.names.append(event_name.rsplit(".", 1)[1])


def single_attempt() -> AwsClients:
    return AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))


def resolver(clients: AwsClients, attribute: str = "user_id", **options: Any) -> MembershipResolver:
    return MembershipResolver(clients, IdentityStoreRef(STORE, REGION, READER, EXTERNAL_ID, attribute),
                              **options)


def team(team_id: str, *groups: str) -> Team:
    return Team(id=team_id, account_id="111111111111", region=REGION, domain=DomainRef(name="d"),
                execution_role_arn="arn:aws:iam::111111111111:role/x", tags=frozen_mapping({}),
                user_settings=frozen_mapping({}), groups=groups)


def test_user_id_lookup_gives_the_person_and_their_group_names(people: dict[str, str]) -> None:
    found = resolver(AwsClients()).membership(people["alice"])
    assert found.exists and found.store_user_id == people["alice"]
    assert sorted(g.display_name or "" for g in found.groups) == ["data-science", "ml-platform"]
    assert found.is_member_of(team("t", "ml-platform"))
    assert found.is_member_of(team("t", people["group:data-science"]))  # by group id
    assert not found.is_member_of(team("t", "other"))
    assert not found.is_member_of(team("t"))  # a team without groups has no members by group


@pytest.mark.parametrize(("attribute", "value"), [("userName", "bob"), ("emails.value", "bob@example.com")])
def test_unique_attribute_lookups_use_get_user_id(people: dict[str, str], attribute: str, value: str) -> None:
    clients = AwsClients()
    calls = Calls(clients)
    found = resolver(clients, attribute).membership(value)
    assert found.store_user_id == people["bob"] and found.user_id == value
    assert "GetUserId" in calls.names and "DescribeUser" not in calls.names


def test_a_person_not_in_the_store_does_not_exist_and_has_no_teams(people: dict[str, str]) -> None:
    gone = resolver(AwsClients(), "userName").membership("mallory")
    assert not gone.exists and gone.groups == frozenset()
    routing = RoutingTable(source="t", service_provider=ServiceProvider("urn:t", "https://x/saml/acs"),
                           applications={}, teams={"a": team("a", "data-science")})
    assert teams_of(gone, routing) == []
    assert [t.id for t in resolver(AwsClients()).teams(people["bob"], routing)] == ["a"]


def test_the_cache_answers_within_its_ttl_and_asks_again_after(people: dict[str, str]) -> None:
    clients, clock = AwsClients(), Clock()
    calls = Calls(clients)
    members = resolver(clients, ttl_seconds=60, clock=clock)
    members.membership(people["alice"])
    first = len(calls.names)
    assert first > 0
    clock.now += 59
    members.membership(people["alice"])
    assert len(calls.names) == first  # fresh: no call
    clock.now += 2
    members.membership(people["alice"])
    assert "ListGroupMembershipsForMember" in calls.names[first:]
    assert "AssumeRole" not in calls.names[first:]  # the role session is still good


def test_a_removed_member_loses_the_team_once_the_ttl_passed(people: dict[str, str]) -> None:
    clock = Clock()
    members = resolver(AwsClients(), ttl_seconds=60, clock=clock)
    assert members.membership(people["bob"]).in_any(["data-science"])
    ids = store_admin()
    membership_id = ids.get_group_membership_id(IdentityStoreId=STORE, GroupId=people["group:data-science"],
                                                MemberId={"UserId": people["bob"]})["MembershipId"]
    ids.delete_group_membership(IdentityStoreId=STORE, MembershipId=membership_id)
    assert members.membership(people["bob"]).in_any(["data-science"])  # cached
    clock.now += 61
    assert not members.membership(people["bob"]).in_any(["data-science"])


def test_the_cache_is_bounded_and_drops_the_least_recently_used(people: dict[str, str]) -> None:
    clients = AwsClients()
    calls = Calls(clients)
    members = resolver(clients, max_cached=2)
    for name in ("alice", "bob", "carol"):
        members.membership(people[name])
    assert len(members) == 2
    before = len(calls.names)
    members.membership(people["carol"])
    assert len(calls.names) == before  # kept
    members.membership(people["alice"])
    assert len(calls.names) > before  # dropped, asked again
    assert len(members) == 2


def answer_with(clients: AwsClients, operation: str, status: int, code: str) -> None:
    body = json.dumps({"__type": code, "message": "refused"}).encode()

    def respond(request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        if target.endswith("." + operation):
            return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"},
                               _Raw(body))
        return None

    clients.register("before-send.identitystore", respond)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_throttling_is_its_own_typed_error_and_nothing_is_cached(people: dict[str, str]) -> None:
    clients = single_attempt()
    answer_with(clients, "ListGroupMembershipsForMember", 400, "ThrottlingException")
    members = resolver(clients)
    with pytest.raises(IdentityStoreThrottled) as throttled:
        members.membership(people["alice"])
    assert throttled.value.reason == "identity_store_throttled:ListGroupMembershipsForMember"
    assert len(members) == 0


def test_an_endpoint_that_does_not_answer_is_unreachable(people: dict[str, str]) -> None:
    clients = single_attempt()

    def refuse(request: Any, **_: Any) -> None:
        raise EndpointConnectionError(endpoint_url=request.url)

    clients.register("before-send.identitystore", refuse)
    with pytest.raises(IdentityStoreUnreachable) as unreachable:
        resolver(clients).membership(people["alice"])
    assert unreachable.value.reason == "identity_store_unreachable:EndpointConnectionError"


def test_a_passed_deadline_is_unreachable_without_a_call(people: dict[str, str]) -> None:
    import time

    members = resolver(AwsClients())
    with within_deadline(time.monotonic() - 1), pytest.raises(IdentityStoreUnreachable):
        members.membership(people["alice"])


def test_a_denied_call_is_unavailable_not_a_missing_person(people: dict[str, str]) -> None:
    clients = single_attempt()
    answer_with(clients, "DescribeUser", 400, "AccessDeniedException")
    with pytest.raises(IdentityStoreUnavailable) as denied:
        resolver(clients).membership(people["alice"])
    assert isinstance(denied.value, IdentityStoreRefused) and denied.value.code == "AccessDeniedException"
    assert denied.value.reason == "identity_store_refused:DescribeUser:AccessDeniedException"


def test_a_5xx_is_unreachable(people: dict[str, str]) -> None:
    clients = single_attempt()
    answer_with(clients, "DescribeUser", 500, "InternalServerException")
    with pytest.raises(IdentityStoreUnreachable):
        resolver(clients).membership(people["alice"])
