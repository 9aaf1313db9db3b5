"""The canary: every team's chain checked as the broker, and nothing made or used."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from broker import canary
from broker.spokes import SpokeSessions
from tests.silent import silent_server

from .conftest import SPOKES, Landscape

ALL_OK = {(s.team_id, check): True for s in SPOKES for check in canary.CHECKS}


def value(blob: dict[str, Any], name: str) -> float:
    """A metric's value in an EMF blob (Powertools writes a list of one)."""
    found = blob[name]
    return float(found[0] if isinstance(found, list) else found)


def outcome(results: list[canary.Result]) -> dict[tuple[str, str], bool]:
    return {(r.team, r.check): r.ok for r in results}


def test_healthy_teams_pass_every_check_and_nothing_is_made_or_used(landscape: Landscape) -> None:
    results, days = canary.run(landscape.routing, SpokeSessions(landscape.clients))

    assert outcome(results) == ALL_OK
    lookups = [r.detail for r in results if r.check == "profile_lookup"]
    assert lookups == ["DescribeUserProfile: ResourceNotFound"] * len(SPOKES)
    assert set(days) == {app.name for app in landscape.routing.applications.values()}
    assert all(left > 300 for left in days.values())
    # Read-only: the AssumeRole per team, the domain list, the lookup of a profile that is not there.
    assert set(landscape.calls) == {"AssumeRole", "ListDomains", "DescribeUserProfile"}
    assert landscape.all_profiles() == [] and landscape.replay_items() == 0


def test_a_deleted_domain_fails_its_team_only(landscape: Landscape) -> None:
    broken = SPOKES[1]
    landscape.spoke_client(broken).delete_domain(DomainId=landscape.domain_ids[broken.team_id])

    results, _ = canary.run(landscape.routing, SpokeSessions(landscape.clients))

    expected = {**ALL_OK, (broken.team_id, "domain"): False, (broken.team_id, "profile_lookup"): False}
    assert outcome(results) == expected
    assert [r.detail for r in results if r.team == broken.team_id and r.check == "profile_lookup"] == [
        "not reached"]


def test_a_refused_assume_role_fails_every_check_of_that_team(landscape: Landscape) -> None:
    refused = SPOKES[0]

    def deny(params: dict[str, Any], **_: Any) -> Any:
        if refused.account_id in str(params.get("body")):  # the serialised request
            error = {"Error": {"Code": "AccessDenied", "Message": "not trusted"},
                     "ResponseMetadata": {"HTTPStatusCode": 403}}
            return AWSResponse("https://sts.amazonaws.com", 403, {}, None), error
        return None

    landscape.clients.register("before-call.sts.AssumeRole", deny)
    results, _ = canary.run(landscape.routing, SpokeSessions(landscape.clients))

    assert outcome(results) == {**ALL_OK, **{(refused.team_id, c): False for c in canary.CHECKS}}
    [access] = [r for r in results if (r.team, r.check) == (refused.team_id, "spoke_access")]
    assert "AccessDenied" in access.detail


def test_the_handler_publishes_one_metric_per_team_and_check(
        landscape: Landscape, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("broker.routing.routing_table_from_env", lambda: landscape.routing)
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "studio-broker-canary")  # as template.yaml sets it
    capsys.readouterr()

    summary = canary.lambda_handler({}, None)

    assert summary["failures"] == 0 and summary["teams"] == len(SPOKES)
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    checks = {(b["Team"], b["Check"]): value(b, "CanaryCheck") for b in blobs if "CanaryCheck" in b}
    assert checks == {key: 1.0 for key in ALL_OK}
    [failures] = [b for b in blobs if "CanaryFailures" in b]
    assert value(failures, "CanaryFailures") == 0
    # template.yaml's alarms name exactly this dimension set (Powertools adds the service).
    assert failures["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert failures["service"] == "studio-broker-canary"
    [minimum] = [b for b in blobs if "CertificateDaysLeftMin" in b]
    assert value(minimum, "CertificateDaysLeftMin") == min(canary.certificate_days(
        landscape.routing, datetime.now(UTC)).values())
    assert landscape.all_profiles() == [] and landscape.replay_items() == 0


def test_a_hanging_spoke_costs_only_its_teams_time(
        landscape: Landscape, monkeypatch: pytest.MonkeyPatch) -> None:
    # The models loaded first: the clock below then measures the hang, not a loaded machine's
    # first load of botocore's STS and SageMaker models (team1's AssumeRole once missed 1.5 s in CI).
    # (Spoke clients are cached per service and region, so a warm-up run would keep the good endpoint.)
    for spoke in SPOKES:
        landscape.clients.hub("sts", spoke.region)
    landscape.clients.session.get_service_model("sagemaker")
    monkeypatch.setattr(canary, "TEAM_SECONDS", 1.5)
    with silent_server() as silent:
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", silent.url)  # every spoke's SageMaker hangs
        started = time.monotonic()
        results, _ = canary.run(landscape.routing, SpokeSessions(landscape.clients))
        took = time.monotonic() - started

    assert took < len(SPOKES) * 1.5 + 2
    assert outcome(results) == {**ALL_OK, **{(s.team_id, c): False for s in SPOKES
                                             for c in ("domain", "profile_lookup")}}, results
