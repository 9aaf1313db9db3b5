"""The replay cache: each SAML assertion signs a person in once, across all containers.

python3-saml has no memory, so every accepted assertion id is written to a
DynamoDB table with a conditional put; a second write of the same id fails and
the sign-in is refused. The item lives until the assertion's NotOnOrAfter plus
a skew margin (DynamoDB TTL), after which the SAML time checks refuse it anyway.
The table is shared with :mod:`broker.continuation` (different key prefix).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from broker.aws import AwsClients
from broker.exceptions import BrokerUnavailable, ReplayDetected

KEY_ATTRIBUTE = "pk"
TTL_ATTRIBUTE = "expires_at"
ASSERTION_PREFIX = "assertion#"
DEFAULT_SKEW_SECONDS = 300


def assertion_key(issuer: str, assertion_id: str) -> str:
    """The table key of one assertion: ids are only unique per issuer."""
    digest = hashlib.sha256(f"{issuer}\n{assertion_id}".encode("utf-8", "surrogatepass"))
    return ASSERTION_PREFIX + digest.hexdigest()


def error_code(exc: ClientError | BotoCoreError) -> str:
    """A short, log-safe name for an AWS failure."""
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
    else:
        code = type(exc).__name__
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.") else "_" for c in code)[:64]


class ReplayCache:
    """Remembers used assertions in DynamoDB; fails closed when the table is unreachable."""

    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        region: str | None = None,
        clock: Callable[[], float] = time.time,
        skew_seconds: int = DEFAULT_SKEW_SECONDS,
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._region = region
        self._clock = clock
        self._skew = skew_seconds

    def remember(self, issuer: str, assertion_id: str, not_on_or_after: float) -> None:
        """Record the assertion as used; raise :class:`ReplayDetected` if it already was."""
        # Never shorter than now + skew, whatever the assertion claims.
        expires_at = int(max(not_on_or_after, self._clock())) + self._skew
        dynamodb = self._clients.hub("dynamodb", self._region)
        try:
            dynamodb.put_item(
                TableName=self._table,
                Item={
                    KEY_ATTRIBUTE: {"S": assertion_key(issuer, assertion_id)},
                    TTL_ATTRIBUTE: {"N": str(expires_at)},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE},
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                raise ReplayDetected(reason="replay") from None
            raise BrokerUnavailable(reason=f"replay_cache_unavailable:{error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise BrokerUnavailable(reason=f"replay_cache_unavailable:{error_code(exc)}") from exc


def create_table(clients_or_client: AwsClients | Any, table_name: str,
                 region: str | None = None) -> None:
    """Create the replay/continuation table (on-demand, TTL on ``expires_at``); idempotent."""
    if isinstance(clients_or_client, AwsClients):
        dynamodb = clients_or_client.hub("dynamodb", region)
    else:
        dynamodb = clients_or_client
    try:
        dynamodb.create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": KEY_ATTRIBUTE, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": KEY_ATTRIBUTE, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    dynamodb.get_waiter("table_exists").wait(
        TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = dynamodb.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
    # Enabling TTL twice is an error in AWS.
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        dynamodb.update_time_to_live(
            TableName=table_name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
