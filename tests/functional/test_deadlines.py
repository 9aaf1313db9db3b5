"""A dependency that accepts connections and never answers: the broker's own page, in time.

A local TCP server that accepts and never says a word stands in for the hub's
DynamoDB table, the spoke's STS or the spoke's SageMaker. With a Lambda
context that has little time left, the handler must answer its own 502/503
page with a reference and a log line before the Lambda's timeout (botocore
alone would wait 5 attempts x 8 s), and leave nothing half-made.

The container is warm: its clients exist before the clock starts (as after
its first sign-in), so the 2 s measure how the broker bounds a call that
hangs, not how long a loaded machine takes to load botocore's models.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from broker import handler
from broker.aws import session_credentials
from tests.functional.conftest import LambdaContext, Landscape, acs_event
from tests.silent import SilentServer, silent_server

DEADLINE_SECONDS = 2.0
LAMBDA_SECONDS = DEADLINE_SECONDS + handler.DEADLINE_MARGIN_SECONDS


@dataclass(frozen=True)
class ShortLivedContext(LambdaContext):
    """A Lambda context whose invocation ends ``LAMBDA_SECONDS`` after it is made."""

    ends_at: float = 0.0

    def get_remaining_time_in_millis(self) -> int:
        return int((self.ends_at - time.monotonic()) * 1000)


@pytest.fixture
def silent() -> Iterator[SilentServer]:
    with silent_server() as server:
        yield server


def warm_clients(landscape: Landscape) -> None:
    """Make the clients of a sign-in to team1 now, with the endpoints the environment names."""
    team = landscape.routing.team("team1")
    assert team is not None
    landscape.clients.hub("dynamodb", "us-east-1")
    landscape.clients.hub("sts", team.region)
    landscape.clients.acting("sagemaker", team.region, session_credentials("unused", "unused", "unused"))


@pytest.mark.parametrize(("service", "status", "reason"), [
    ("DYNAMODB", 503, "replay_cache_unavailable:ReadTimeoutError"),
    ("STS", 502, "assume_role_failed:ReadTimeoutError"),
    ("SAGEMAKER", 502, "describe_profile_failed:ReadTimeoutError"),
])
def test_a_silent_dependency_gets_the_brokers_page_within_the_deadline(
    landscape: Landscape, silent: SilentServer, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture, service: str, status: int, reason: str,
) -> None:
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", silent.url)
    warm_clients(landscape)
    body = urllib.parse.urlencode({"SAMLResponse": landscape.saml_response("user1", "team1")})

    started = time.monotonic()
    context = ShortLivedContext(ends_at=started + LAMBDA_SECONDS)
    response = handler.lambda_handler(acs_event(body), context)
    elapsed = time.monotonic() - started

    assert response["statusCode"] == status, response["body"]
    assert "Reference:" in response["body"]
    assert DEADLINE_SECONDS - 0.5 < elapsed < DEADLINE_SECONDS + 0.75  # Lambda ends at +2 s
    assert silent.connections == 1  # no retry that could not have finished in time
    assert [getattr(record, "reason", None) for record in caplog.records
            if record.getMessage() == "sign-in refused"] == [reason]
    monkeypatch.delenv(f"AWS_ENDPOINT_URL_{service}")
    assert landscape.calls["CreateUserProfile"] == 0
    assert landscape.calls["CreatePresignedDomainUrl"] == 0
    assert landscape.all_profiles() == []
