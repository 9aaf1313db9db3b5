"""Continuation tokens against DynamoDB in moto: short-lived, single use, only hashes stored."""

from __future__ import annotations

import json
from typing import Any

import pytest

from broker.aws import AwsClients
from broker.continuation import ContinuationStore, continuation_key
from broker.exceptions import BrokerUnavailable, ContinuationInvalid
from broker.replay import create_table

TABLE = "broker-replay"
PAYLOAD = {"user": "alice@example.com", "team": "team-a", "issuer": "https://idp", "n": 3}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_clients() -> AwsClients:
    return AwsClients()


@pytest.fixture
def clients(mocked: None) -> AwsClients:
    aws = new_clients()
    create_table(aws, TABLE)
    return aws


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clients: AwsClients, clock: Clock) -> ContinuationStore:
    return ContinuationStore(clients, TABLE, clock=clock, ttl_seconds=120)


def items(clients: AwsClients) -> list[dict[str, Any]]:
    return clients.hub("dynamodb").scan(TableName=TABLE)["Items"]


def test_round_trip_returns_the_payload(store: ContinuationStore) -> None:
    token = store.issue(PAYLOAD)

    assert store.redeem(token) == PAYLOAD


def test_tokens_are_unguessable_and_distinct(store: ContinuationStore) -> None:
    tokens = {store.issue(PAYLOAD) for _ in range(5)}

    assert len(tokens) == 5
    assert all(len(t) == 43 for t in tokens)  # 32 random bytes


def test_second_redeem_is_refused_as_used(store: ContinuationStore, clients: AwsClients) -> None:
    token = store.issue(PAYLOAD)
    store.redeem(token)

    with pytest.raises(ContinuationInvalid) as caught:
        store.redeem(token)

    assert caught.value.reason == "continuation_used"
    assert caught.value.status == 400
    assert "expired" in caught.value.public_message
    # The payload is gone after the first use; only a tombstone remains until TTL.
    [item] = items(clients)
    assert "payload" not in item


def test_another_container_cannot_redeem_a_used_token(
    store: ContinuationStore, clock: Clock
) -> None:
    token = store.issue(PAYLOAD)
    other = ContinuationStore(new_clients(), TABLE, clock=clock)
    assert other.redeem(token) == PAYLOAD

    with pytest.raises(ContinuationInvalid) as caught:
        store.redeem(token)

    assert caught.value.reason == "continuation_used"


def test_expired_token_is_refused_even_before_ttl_deletes_it(
    store: ContinuationStore, clock: Clock
) -> None:
    token = store.issue(PAYLOAD)
    clock.now += 120

    with pytest.raises(ContinuationInvalid) as caught:
        store.redeem(token)

    assert caught.value.reason == "continuation_expired"


def test_token_just_before_expiry_is_accepted(store: ContinuationStore, clock: Clock) -> None:
    token = store.issue(PAYLOAD)
    clock.now += 119

    assert store.redeem(token) == PAYLOAD


def test_unknown_well_formed_token_is_refused(store: ContinuationStore, clients: AwsClients) -> None:
    with pytest.raises(ContinuationInvalid) as caught:
        store.redeem("A" * 43)

    assert caught.value.reason == "continuation_unknown"
    assert items(clients) == []  # the conditional update created nothing


@pytest.mark.parametrize(
    "token",
    ["", "short", "A" * 42, "A" * 44, "A" * 100_000, "é" * 43, "A" * 42 + "=", "A" * 42 + "\n",
     "A" * 21 + " " + "A" * 21, "Ａ" * 43, None, 42, b"A" * 43],
)
def test_malformed_token_is_refused_without_a_lookup(
    store: ContinuationStore, clients: AwsClients, token: Any
) -> None:
    calls: list[str] = []
    # On the client itself: it was made (by the fixture) before any handler was registered.
    clients.hub("dynamodb").meta.events.register(
        "before-call.dynamodb", lambda event_name, **_: calls.append(event_name))

    with pytest.raises(ContinuationInvalid) as caught:
        store.redeem(token)

    assert caught.value.reason == "continuation_malformed"
    assert calls == []


def test_only_the_hash_of_the_token_is_stored(store: ContinuationStore, clients: AwsClients,
                                              clock: Clock) -> None:
    token = store.issue(PAYLOAD)

    [item] = items(clients)
    assert token not in json.dumps(item)
    assert item["pk"] == {"S": continuation_key(token)}
    assert item["expires_at"] == {"N": str(int(clock.now) + 120)}
    assert json.loads(item["payload"]["S"]) == PAYLOAD


def test_payload_must_be_json(store: ContinuationStore, clients: AwsClients) -> None:
    with pytest.raises(TypeError):
        store.issue({"when": object()})

    assert items(clients) == []


def test_dynamodb_failure_is_unavailable_not_invalid(mocked: None) -> None:
    broken = new_clients()

    class Http:
        status_code = 500

    def answer(**_: Any) -> tuple[Http, dict[str, Any]]:
        return Http(), {"Error": {"Code": "ThrottlingException", "Message": "x"},
                        "ResponseMetadata": {}}

    broken.register("before-call.dynamodb.UpdateItem", answer)
    create_table(broken, TABLE)
    store = ContinuationStore(broken, TABLE)
    token = store.issue(PAYLOAD)

    with pytest.raises(BrokerUnavailable) as caught:
        store.redeem(token)

    assert caught.value.reason == "continuation_store_unavailable:ThrottlingException"
    assert caught.value.status == 503
    # Nothing was consumed: the payload is still there.
    [item] = items(new_clients())
    assert "payload" in item and "used_at" not in item


def test_issue_failure_is_unavailable(mocked: None) -> None:
    # No table: the put fails, and no token is handed out.
    with pytest.raises(BrokerUnavailable) as caught:
        ContinuationStore(new_clients(), TABLE).issue(PAYLOAD)

    assert caught.value.reason == "continuation_store_unavailable:ResourceNotFoundException"
