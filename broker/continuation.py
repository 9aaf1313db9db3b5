"""Continuations: carry a verified sign-in across the holding page's retries.

When a first login must wait for a new profile, the holding page retries by
itself. Re-posting the SAMLResponse would be a replay, so the verified sign-in
is kept server-side under a short-lived, single-use, unguessable token that the
handler binds to the browser with a Secure HttpOnly cookie. Only the token's
hash is stored: a read of the table does not yield a usable token.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from broker.aws import AwsClients
from broker.exceptions import BrokerUnavailable, ContinuationInvalid
from broker.replay import KEY_ATTRIBUTE, TTL_ATTRIBUTE, error_code

CONTINUATION_PREFIX = "continuation#"
TOKEN_BYTES = 32
DEFAULT_TTL_SECONDS = 120
# secrets.token_urlsafe(32): 43 characters of unpadded base64url.
_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")


def continuation_key(token: str) -> str:
    """The table key of a token: its hash, never the token."""
    return CONTINUATION_PREFIX + hashlib.sha256(token.encode("ascii")).hexdigest()


class ContinuationStore:
    """Single-use continuation tokens in the replay table."""

    def __init__(
        self,
        clients: AwsClients,
        table_name: str,
        region: str | None = None,
        clock: Callable[[], float] = time.time,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self._clients = clients
        self._table = table_name
        self._region = region
        self._clock = clock
        self._ttl = ttl_seconds

    def issue(self, payload: Mapping[str, Any]) -> str:
        """Store ``payload`` (JSON-serialisable) and return a new token for it."""
        body = json.dumps(dict(payload), separators=(",", ":"), sort_keys=True, allow_nan=False)
        token = secrets.token_urlsafe(TOKEN_BYTES)
        try:
            self._dynamodb().put_item(
                TableName=self._table,
                Item={
                    KEY_ATTRIBUTE: {"S": continuation_key(token)},
                    TTL_ATTRIBUTE: {"N": str(int(self._clock() + self._ttl))},
                    "payload": {"S": body},
                },
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE},
            )
        except (ClientError, BotoCoreError) as exc:
            raise BrokerUnavailable(
                reason=f"continuation_store_unavailable:{error_code(exc)}") from exc
        return token

    def redeem(self, token: str) -> dict[str, Any]:
        """Consume ``token`` and return its payload; raise :class:`ContinuationInvalid` if unusable.

        Redeeming marks the item used and drops its payload in one conditional
        update, so two concurrent redeems cannot both succeed. A tombstone (not a
        delete) is kept until TTL so that a reuse is told apart from a forgery.
        """
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ContinuationInvalid(reason="continuation_malformed")
        now = self._clock()
        try:
            response = self._dynamodb().update_item(
                TableName=self._table,
                Key={KEY_ATTRIBUTE: {"S": continuation_key(token)}},
                UpdateExpression="SET used_at = :now REMOVE payload",
                ConditionExpression="attribute_exists(#pk) AND attribute_exists(payload)",
                ExpressionAttributeNames={"#pk": KEY_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(int(now))}},
                ReturnValues="ALL_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                reason = "continuation_used" if exc.response.get("Item") else "continuation_unknown"
                raise ContinuationInvalid(reason=reason) from None
            raise BrokerUnavailable(
                reason=f"continuation_store_unavailable:{error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise BrokerUnavailable(
                reason=f"continuation_store_unavailable:{error_code(exc)}") from exc
        item = response["Attributes"]
        # DynamoDB TTL deletes lazily (hours late): the expiry is checked here.
        if now >= float(item[TTL_ATTRIBUTE]["N"]):
            raise ContinuationInvalid(reason="continuation_expired")
        return json.loads(item["payload"]["S"])

    def _dynamodb(self) -> Any:
        return self._clients.hub("dynamodb", self._region)
