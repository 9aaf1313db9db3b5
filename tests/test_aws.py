"""What every AWS call gets from :mod:`broker.aws`: the real attempt count, and the request's deadline.

Against a local server that accepts connections and never answers, with short
timeouts so the test is quick. These also pin the botocore behaviour the
deadline relies on (per-request ``read_timeout`` in the request context, a
``needs-retry`` handler answering ``False``), so an upgrade that drops it
fails here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from botocore.exceptions import ReadTimeoutError

from broker import aws
from broker.aws import AwsClients, DeadlineExceeded, within_deadline
from tests.silent import SilentServer, silent_server


@pytest.fixture
def silent(monkeypatch: pytest.MonkeyPatch) -> Iterator[SilentServer]:
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with silent_server() as server:
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        yield server


def quick_clients(monkeypatch: pytest.MonkeyPatch, read_timeout: float) -> AwsClients:
    """The broker's client set with a short read timeout."""
    monkeypatch.setattr(aws, "READ_TIMEOUT_SECONDS", read_timeout)
    config = aws.client_config().merge(aws.Config(read_timeout=read_timeout))
    return AwsClients(config=config)


def test_a_call_makes_five_attempts_without_a_deadline(
    silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _: None)
    dynamodb = quick_clients(monkeypatch, 0.2).hub("dynamodb", "us-east-1")

    with pytest.raises(ReadTimeoutError):
        dynamodb.describe_table(TableName="any")

    assert silent.connections == aws.TOTAL_MAX_ATTEMPTS == 5


def test_a_deadline_ends_the_call_at_the_deadline_with_no_retry_that_cannot_fit(
    silent: SilentServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb = quick_clients(monkeypatch, 8.0).hub("dynamodb", "us-east-1")

    started = time.monotonic()
    with within_deadline(started + 1.0), pytest.raises(ReadTimeoutError):
        dynamodb.describe_table(TableName="any")

    assert 0.9 < time.monotonic() - started < 1.5  # not the 8 s read timeout
    assert silent.connections == 1  # a retry's backoff (up to 1 s) would not have fitted


def test_retries_go_on_while_they_fit(silent: SilentServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("botocore.endpoint.time.sleep", lambda _: None)
    dynamodb = quick_clients(monkeypatch, 0.2).hub("dynamodb", "us-east-1")

    with within_deadline(time.monotonic() + 60), pytest.raises(ReadTimeoutError):
        dynamodb.describe_table(TableName="any")

    assert silent.connections == 5


def test_no_attempt_starts_after_the_deadline(silent: SilentServer) -> None:
    dynamodb = AwsClients().hub("dynamodb", "us-east-1")

    with within_deadline(time.monotonic() - 1), pytest.raises(DeadlineExceeded):
        dynamodb.describe_table(TableName="any")

    assert silent.connections == 0


def test_the_deadline_ends_with_its_block() -> None:
    assert aws.time_left() is None
    with within_deadline(time.monotonic() + 5):
        left = aws.time_left()
        assert left is not None and 4 < left <= 5
    assert aws.time_left() is None
