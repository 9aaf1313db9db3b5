"""The hub's canary: every team's sign-in chain checked as the broker, on a schedule.

It runs in the broker's package with the broker's role, so it meets exactly
what a sign-in meets, where only real IAM can say yes or no: the AssumeRole
into the team's broker-access role (trust, ExternalId, SourceIdentity and the
User/Team/Profile session tags), the domain lookup, and a DescribeUserProfile
of a profile that must not exist (the canary's own name in the team). That
last call is also the check that a first sign-in's lookup of a missing
profile is answered ResourceNotFound, not AccessDenied.

It never creates a profile, never presigns a URL, never writes the replay
table, and no SAMLResponse is involved: nobody's sign-in is used. Each run
publishes, in the ``StudioBroker`` namespace, ``CanaryCheck`` (1 ok, 0 failed)
per ``Team`` and ``Check``, ``CanaryFailures`` (their sum, no dimension, for
one alarm), and ``CertificateDaysLeft`` per ``Application`` plus its minimum
``CertificateDaysLeftMin`` (for the expiry alarm).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from cryptography import x509

from broker.aws import within_deadline
from broker.config import RoutingTable, Team
from broker.exceptions import SpokeFailure
from broker.profile_name import profile_name_for
from broker.spokes import SpokeSessions

# The canary's user id: its profile name in each team (<team>--studio-broker-canary) is never made.
CANARY_USER = "studio-broker-canary"
NOT_FOUND = frozenset({"ResourceNotFound", "ResourceNotFoundException"})
CHECKS = ("spoke_access", "domain", "profile_lookup")
TEAM_SECONDS = 15.0  # every AWS call of one team's checks ends within this


@dataclass(frozen=True)
class Result:
    """One check of one team: passed or not, and why (an error code, never a secret)."""

    team: str
    check: str
    ok: bool
    detail: str


def check_team(sessions: SpokeSessions, team: Team) -> list[Result]:
    """The three links of ``team``'s chain, in order; a broken link fails the ones after it."""
    results: list[Result] = []

    def record(check: str, ok: bool, detail: str) -> bool:
        results.append(Result(team.id, check, ok, detail))
        return ok

    try:
        sagemaker = sessions.client(team, "sagemaker", CANARY_USER)
    except SpokeFailure as failure:
        record("spoke_access", False, failure.reason)
        return results + _skipped(team, CHECKS[1:])
    record("spoke_access", True, f"assumed {team.broker_role_arn}")
    domain_id = _domain(sagemaker, team, record)
    if domain_id is None:
        return results + _skipped(team, CHECKS[2:])
    name = profile_name_for(CANARY_USER, team.id)
    try:
        sagemaker.describe_user_profile(DomainId=domain_id, UserProfileName=name)
        record("profile_lookup", True, f"{name} exists (a person signed in with the canary's id)")
    except ClientError as error:
        code = _code(error)
        record("profile_lookup", code in NOT_FOUND, f"DescribeUserProfile: {code}")
    except BotoCoreError as error:
        record("profile_lookup", False, type(error).__name__)
    return results


def _domain(sagemaker: Any, team: Team, record: Callable[[str, bool, str], bool]) -> str | None:
    try:
        domains = [d for page in sagemaker.get_paginator("list_domains").paginate()
                   for d in page.get("Domains", [])]
    except ClientError as error:
        record("domain", False, f"ListDomains: {_code(error)}")
        return None
    except BotoCoreError as error:
        record("domain", False, type(error).__name__)
        return None
    found = next((d for d in domains if d["DomainId"] == team.domain.domain_id
                  or (team.domain.domain_id is None and d.get("DomainName") == team.domain.name)), None)
    if found is None:
        record("domain", False, f"no domain {team.domain.domain_id or team.domain.name}")
        return None
    status = found.get("Status")
    if not record("domain", status == "InService", f"{found['DomainId']} {status}"):
        return None
    return str(found["DomainId"])


def _skipped(team: Team, checks: Iterable[str]) -> list[Result]:
    return [Result(team.id, check, False, "not reached") for check in checks]


def certificate_days(table: RoutingTable, now: datetime) -> dict[str, int]:
    """Days until each application's last certificate expires (the one a rotation relies on)."""
    days: dict[str, int] = {}
    for app in table.applications.values():
        ends = [x509.load_pem_x509_certificate(pem.encode()).not_valid_after_utc for pem in app.certificates]
        days[app.name] = (max(ends) - now).days
    return days


def run(table: RoutingTable, sessions: SpokeSessions, now: datetime | None = None
        ) -> tuple[list[Result], dict[str, int]]:
    """Every team's checks and every application's certificate days."""
    results: list[Result] = []
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        # A spoke that hangs costs its own team's checks, not the rest of the run.
        with within_deadline(time.monotonic() + TEAM_SECONDS):
            results += check_team(sessions, team)
    return results, certificate_days(table, now or datetime.now(UTC))


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code") or "Unknown")[:64]


# --- the Lambda entry point ----------------------------------------------------------------------

def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge Scheduler's target: run the checks, publish the metrics, log each failure."""
    from aws_lambda_powertools import Logger

    from broker.aws import AwsClients
    from broker.routing import routing_table_from_env

    logger = Logger(service="studio-broker-canary")
    table = routing_table_from_env()
    # Fresh sessions on purpose: a cached session would skip the AssumeRole, the link that
    # only this run can check with real IAM.
    results, days = run(table, SpokeSessions(AwsClients()))
    for result in results:
        if not result.ok:
            logger.warning("canary check failed", extra={
                "team": result.team, "check": result.check, "detail": result.detail})
    publish(results, days)
    failures = sum(not r.ok for r in results)
    logger.info("canary run", extra={"teams": len(table.teams), "failures": failures})
    return {"teams": len(table.teams), "failures": failures,
            "certificate_days_min": min(days.values(), default=None)}


def publish(results: list[Result], days: dict[str, int], namespace: str = "StudioBroker") -> None:
    """The run's metrics as CloudWatch embedded metric format lines (no PutMetricData call)."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    def emit(name: str, value: float, unit: Any, **dimensions: str) -> None:
        with single_metric(name=name, unit=unit, value=value, namespace=namespace) as metric:
            for key, dimension in dimensions.items():
                metric.add_dimension(name=key, value=dimension)

    for result in results:
        emit("CanaryCheck", 1 if result.ok else 0, MetricUnit.Count, Team=result.team, Check=result.check)
    emit("CanaryFailures", sum(not r.ok for r in results), MetricUnit.Count)
    for application, left in days.items():
        emit("CertificateDaysLeft", left, MetricUnit.Count, Application=application)
    if days:
        emit("CertificateDaysLeftMin", min(days.values()), MetricUnit.Count)
