"""The replay cache against DynamoDB in moto: once per assertion, across containers."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError

from broker.aws import AwsClients
from broker.exceptions import BrokerUnavailable, ReplayDetected
from broker.replay import ReplayCache, assertion_key, create_table

TABLE = "broker-replay"
ISSUER = "https://portal.sso.eu-west-1.amazonaws.com/saml/assertion/ABC123"
NOW = 1_900_000_000.0


def new_clients() -> AwsClients:
    """A fresh client cache, as in another Lambda container."""
    return AwsClients()


@pytest.fixture
def clients(mocked: None) -> AwsClients:
    """Clients with the replay table created."""
    aws = new_clients()
    create_table(aws, TABLE)
    return aws


def cache(clients: AwsClients) -> ReplayCache:
    return ReplayCache(clients, TABLE, clock=lambda: NOW)


def items(clients: AwsClients) -> list[dict[str, Any]]:
    return clients.hub("dynamodb").scan(TableName=TABLE)["Items"]


def fail_dynamodb(clients: AwsClients, operation: str, code: str) -> None:
    """Answer every ``operation`` with an AWS error, before moto sees it (register first)."""

    class Http:
        status_code = 500

    def answer(**_: Any) -> tuple[Http, dict[str, Any]]:
        return Http(), {"Error": {"Code": code, "Message": "injected"}, "ResponseMetadata": {}}

    clients.register(f"before-call.dynamodb.{operation}", answer)


def test_first_use_is_accepted_and_second_is_a_replay(clients: AwsClients) -> None:
    replay = cache(clients)
    replay.remember(ISSUER, "_a1", NOW + 300)

    with pytest.raises(ReplayDetected) as caught:
        replay.remember(ISSUER, "_a1", NOW + 300)

    assert caught.value.reason == "replay"
    assert caught.value.status == 401
    assert "already used" in caught.value.public_message
    assert len(items(clients)) == 1


def test_two_containers_sharing_the_table_detect_the_replay(clients: AwsClients) -> None:
    first = ReplayCache(new_clients(), TABLE)
    second = ReplayCache(new_clients(), TABLE)
    first.remember(ISSUER, "_shared", NOW + 300)

    with pytest.raises(ReplayDetected):
        second.remember(ISSUER, "_shared", NOW + 300)


def test_same_assertion_id_from_two_issuers_is_two_assertions(clients: AwsClients) -> None:
    replay = cache(clients)
    replay.remember(ISSUER, "_same", NOW + 300)
    replay.remember(ISSUER + "-other", "_same", NOW + 300)

    assert len(items(clients)) == 2


def test_key_separates_issuer_and_id_unambiguously() -> None:
    # Plain concatenation would make ("ab", "c") and ("a", "bc") one assertion.
    assert assertion_key("ab", "c") != assertion_key("a", "bc")
    expected = hashlib.sha256(b"iss\n_id").hexdigest()
    assert assertion_key("iss", "_id") == "assertion#" + expected


def test_item_has_ttl_after_not_on_or_after_and_holds_no_raw_ids(clients: AwsClients) -> None:
    cache(clients).remember(ISSUER, "_ttl", NOW + 600.7)

    [item] = items(clients)
    assert item["expires_at"] == {"N": str(int(NOW + 600.7) + 300)}
    assert set(item) == {"pk", "expires_at"}
    assert "_ttl" not in str(item) and ISSUER not in str(item)
    ttl = clients.hub("dynamodb").describe_time_to_live(TableName=TABLE)
    assert ttl["TimeToLiveDescription"]["AttributeName"] == "expires_at"
    assert ttl["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"


def test_ttl_is_never_before_now_plus_skew(clients: AwsClients) -> None:
    cache(clients).remember(ISSUER, "_past", NOW - 10_000)

    [item] = items(clients)
    assert int(item["expires_at"]["N"]) == int(NOW) + 300


def test_dynamodb_failure_fails_closed_and_stores_nothing(mocked: None) -> None:
    broken = new_clients()
    fail_dynamodb(broken, "PutItem", "InternalServerError")  # before any client is made
    create_table(broken, TABLE)

    with pytest.raises(BrokerUnavailable) as caught:
        ReplayCache(broken, TABLE).remember(ISSUER, "_down", NOW + 300)

    assert caught.value.status == 503
    assert caught.value.reason == "replay_cache_unavailable:InternalServerError"
    assert items(new_clients()) == []


def test_unreachable_dynamodb_fails_closed(mocked: None) -> None:
    broken = new_clients()

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")

    broken.register("before-call.dynamodb.PutItem", unreachable)

    with pytest.raises(BrokerUnavailable) as caught:
        ReplayCache(broken, TABLE).remember(ISSUER, "_down", NOW + 300)

    assert caught.value.reason == "replay_cache_unavailable:EndpointConnectionError"


def test_missing_table_fails_closed(clients: AwsClients) -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        ReplayCache(clients, "no-such-table").remember(ISSUER, "_x", NOW + 300)

    assert caught.value.reason == "replay_cache_unavailable:ResourceNotFoundException"


def test_create_table_is_idempotent(clients: AwsClients) -> None:
    create_table(clients.hub("dynamodb"), TABLE)

    table = clients.hub("dynamodb").describe_table(TableName=TABLE)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
