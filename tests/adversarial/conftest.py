"""A hub and two spokes in the emulator, built once per test module, and the refusal check.

The functional suite's ``landscape`` builds the accounts afresh for every test
(about a second each); the attack corpus runs a hundred refusals, each of
which must create nothing, so one landscape per module serves them all and a
per-test fixture only resets the call counters. Modules whose tests land
people (replay, the edges that are accepted) get their own module landscape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from broker import emulator, handler, pages
from broker.aws import AwsClients
from broker.config import RoutingTable
from broker.emulator import settings as emulator_settings
from broker.local.idp import SamlIdentityProvider
from broker.replay import create_table
from broker.wiring import BrokerSettings, build_login_service
from tests.functional.conftest import (  # noqa: F401  (signing_idps is a fixture re-exported here)
    SPOKES,
    TABLE,
    Landscape,
    build_routing,
    create_spoke,
    headers_of,
    signing_idps,
)

AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_METRICS_NAMESPACE": "StudioBroker", "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
}
# Words that would mean the page leaks internals.
INTERNALS = ("Traceback", "onelogin", "xmlsec", "lxml", "Exception", "File \"", "botocore", "_invalid")


def settings() -> BrokerSettings:
    return BrokerSettings(table_name=TABLE, table_region="us-east-1", profile_wait_seconds=2.0)


def counted(land: Landscape, clients: AwsClients) -> None:
    """Count every AWS call ``clients`` make into ``land.calls``."""

    def count(event_name: str, params: dict[str, Any], **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[1]
        land.calls[operation] += 1
        land.call_params.append((operation, params))

    clients.register("provide-client-params", count)


@pytest.fixture(scope="module")
def module_landscape(signing_idps: dict[str, SamlIdentityProvider]) -> Iterator[Landscape]:  # noqa: F811
    """The functional landscape (same accounts, routing and IdPs), once per module."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in AWS_ENV.items():
            env.setenv(name, value)
        for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
            env.delenv(name, raising=False)
        emulator.install()
        emulator_settings.reset()
        with mock_aws():
            domain_ids = {spoke.team_id: create_spoke(spoke) for spoke in SPOKES}
            create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
            routing = build_routing(signing_idps, domain_ids)
            clients = AwsClients()
            service = build_login_service(routing, settings(), clients)
            service.profiles.poll_seconds = 0.05
            land = Landscape(routing, signing_idps, clients, service, domain_ids)
            counted(land, clients)
            handler.use_login_service(service)
            yield land
            handler.use_login_service(None)
        emulator_settings.reset()


@pytest.fixture
def hub(module_landscape: Landscape) -> Iterator[Landscape]:
    """The module's landscape with fresh call counters and its own login service in the handler."""
    module_landscape.calls.clear()
    module_landscape.call_params.clear()
    handler.use_login_service(module_landscape.service)
    yield module_landscape
    handler.use_login_service(module_landscape.service)
    emulator_settings.reset()


def with_routing(land: Landscape, routing: RoutingTable) -> Any:
    """A second login service on the same table and accounts, for an edited routing table."""
    clients = AwsClients()
    counted(land, clients)
    service = build_login_service(routing, settings(), clients)
    service.profiles.poll_seconds = 0.05
    return service


@pytest.fixture
def broker_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """The handler's log records (powertools' logger propagates to the root logger)."""
    caplog.set_level(logging.INFO, logger=handler.SERVICE)
    return caplog


def log_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """Every captured broker record as the JSON line the Lambda writes to CloudWatch."""
    formatter = handler.logger.registered_formatter
    return [json.loads(formatter.format(record)) for record in caplog.records
            if record.name == handler.SERVICE]


def assert_security_headers(response: dict[str, Any]) -> None:
    """Every header of :data:`broker.pages.SECURITY_HEADERS`, with its exact value."""
    headers = headers_of(response)
    for name, value in pages.SECURITY_HEADERS.items():
        assert headers.get(name) == value, f"{name} missing or changed on a {response['statusCode']}"


def assert_refused(
    land: Landscape,
    response: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
    *,
    status: int,
    reason: str,
    text: str,
    posted: str | None = None,
    profiles_before: int = 0,
) -> None:
    """A refusal: status, a page with the public message and reference but no internals,
    the security headers, no STS/profile/presign call, no profile, and one log line with
    the reason (and never the posted SAMLResponse)."""
    assert response["statusCode"] == status, (response["statusCode"], response["body"][:300])
    body = response["body"]
    assert text in body
    assert "Reference:" in body
    for word in (*INTERNALS, reason):
        assert word not in body, f"the page shows {word!r}"
    assert "Location" not in headers_of(response)
    assert_security_headers(response)
    for operation in ("AssumeRole", "CreateUserProfile", "CreatePresignedDomainUrl"):
        assert land.calls[operation] == 0, f"{operation} was called"
    assert len(land.all_profiles()) == profiles_before

    lines = log_lines(caplog)
    refusals = [line for line in lines if line.get("message") == "sign-in refused"]
    assert [line["reason"] for line in refusals] == [reason], refusals
    assert refusals[0]["status"] == status
    if posted:
        assert not any(posted[:64] in json.dumps(line) for line in lines), "the SAMLResponse was logged"
