"""First logins that must wait, the concurrent first-login race, and failures in the spoke."""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.awsrequest import AWSResponse

from broker import handler
from broker.config import DomainRef
from broker.emulator import settings as emulator_settings
from broker.handler import CONTINUE_COOKIE
from broker.login import PRESIGN_RESERVE_SECONDS
from tests.functional.conftest import (
    SPOKES,
    LambdaContext,
    Landscape,
    acs_event,
    get_event,
    headers_of,
)
from tests.functional.test_sign_in import assert_refused

TEAM1, _ = SPOKES


def _cookie(response: dict[str, Any]) -> str:
    (cookie,) = response["multiValueHeaders"]["Set-Cookie"]
    assert cookie.startswith(f"{CONTINUE_COOKIE}=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    return cookie.split(";", 1)[0]


def test_pending_profile_is_waited_for_within_the_bound(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=0.3)
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 302
    assert landscape.calls["DescribeUserProfile"] >= 2  # saw Pending, then InService


def test_slow_profile_gets_a_holding_page_that_resumes_without_the_saml_response(
    landscape: Landscape,
) -> None:
    emulator_settings.configure(profile_delay_seconds=1.0)
    landscape.service.profiles.wait_seconds = 0.1
    landscape.service.resume_wait_seconds = 0.1
    first = landscape.sign_in("user1", "team1")
    assert first["statusCode"] == 202
    assert 'http-equiv="refresh"' not in first["body"]  # a script continues (axe: meta-refresh)
    assert 'id="continue"' in first["body"]
    assert "https://broker.example.com/prod/saml/continue" in first["body"]
    assert "SAMLResponse" not in first["body"]
    cookie = _cookie(first)

    time.sleep(1.1)
    landed = landscape.invoke(get_event("/saml/continue", cookie=cookie))
    assert landed["statusCode"] == 302
    assert headers_of(landed)["Location"].startswith(f"https://{landscape.domain_ids['team1']}.")

    # the continuation is single use
    again = landscape.invoke(get_event("/saml/continue", cookie=cookie))
    assert again["statusCode"] == 400 and "expired" in again["body"]


def test_holding_page_issues_a_fresh_continuation_each_round(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=30)
    landscape.service.profiles.wait_seconds = 0.05
    landscape.service.resume_wait_seconds = 0.05
    cookie = _cookie(landscape.sign_in("user1", "team1"))
    second = landscape.invoke(get_event("/saml/continue", cookie=cookie))
    assert second["statusCode"] == 202
    assert _cookie(second) != cookie


def test_resume_without_cookie_is_refused(landscape: Landscape) -> None:
    response = landscape.invoke(get_event("/saml/continue"))
    assert_refused(landscape, response, 400, "expired")


def test_concurrent_first_logins_create_one_profile(landscape: Landscape) -> None:
    responses = [landscape.saml_response("user1", "team1") for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(landscape.post_acs, responses))
    assert [r["statusCode"] for r in results] == [302] * 8
    assert [p["UserProfileName"] for p in landscape.all_profiles()] == ["team1--user1"]
    assert landscape.calls["CreateUserProfile"] >= 1


def _fail(landscape: Landscape, operation: str, code: str, status: int, times: int) -> list[int]:
    """Make the next ``times`` calls of ``operation`` fail with ``code``; returns a call counter."""
    seen = [0]

    def before_send(request: Any, **_: Any) -> AWSResponse | None:
        target = request.headers.get("X-Amz-Target", b"")
        target = target.decode() if isinstance(target, bytes) else target
        body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
        if not (target.endswith("." + operation) or f"Action={operation}" in body):
            return None
        seen[0] += 1
        if seen[0] > times:
            return None
        if "X-Amz-Target" in request.headers:
            payload = f'{{"__type":"{code}","message":"injected {code}"}}'.encode()
        else:
            payload = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code>"
                       f"<Message>injected {code}</Message></Error></ErrorResponse>").encode()
        return AWSResponse(request.url, status, {}, _Raw(payload))

    landscape.clients.register("before-send", before_send, first=True)
    return seen


class _Raw:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def stream(self, **_: Any) -> Any:
        yield self.payload


def test_access_denied_on_assume_role_is_a_502_page_and_creates_nothing(landscape: Landscape) -> None:
    _fail(landscape, "AssumeRole", "AccessDenied", 403, times=99)
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 502
    assert "could not reach your team" in response["body"] and "Reference:" in response["body"]
    assert "AccessDenied" not in response["body"]
    assert landscape.all_profiles() == []


def test_throttling_is_retried_and_then_succeeds(landscape: Landscape) -> None:
    seen = _fail(landscape, "CreateUserProfile", "ThrottlingException", 400, times=2)
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 302
    assert seen[0] == 3
    assert len(landscape.all_profiles()) == 1


def test_missing_domain_is_a_502_and_creates_nothing(landscape: Landscape) -> None:
    team = landscape.routing.teams["team1"]
    broken = dataclasses.replace(team, domain=DomainRef(domain_id="d-doesnotexist"))
    landscape.routing.teams["team1"] = broken  # type: ignore[index]
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 502
    assert landscape.all_profiles() == []


def test_disabled_team_shows_its_message_and_creates_nothing(landscape: Landscape) -> None:
    team = landscape.routing.teams["team1"]
    landscape.routing.teams["team1"] = dataclasses.replace(  # type: ignore[index]
        team, enabled=False, disabled_message="Team 1 Studio is down for an upgrade until 14:00 UTC.")
    response = landscape.sign_in("user1", "team1")
    assert_refused(landscape, response, 503, "down for an upgrade until 14:00 UTC")
    assert landscape.replay_items() == 0


def test_profile_deleted_behind_the_cache_is_recreated(landscape: Landscape) -> None:
    assert landscape.sign_in("user1", "team1")["statusCode"] == 302
    sagemaker = landscape.spoke_client(TEAM1)
    sagemaker.delete_user_profile(DomainId=landscape.domain_ids["team1"], UserProfileName="team1--user1")
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 302, response["body"]
    assert [p["UserProfileName"] for p in landscape.all_profiles()] == ["team1--user1"]


def test_continuation_cookie_survives_other_apps_malformed_cookies(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=0.3)
    landscape.service.profiles.wait_seconds = 0.05
    cookie = _cookie(landscape.sign_in("user1", "team1"))
    time.sleep(0.4)
    # cookies a parent domain's other apps may set; SimpleCookie would drop them all
    messy = f'consent=yes please; prefs={{"a":1}}; {cookie}; theme=dark'
    landed = landscape.invoke(get_event("/saml/continue", cookie=messy))
    assert landed["statusCode"] == 302, landed["body"]


def test_continuation_cookie_split_over_several_headers(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=0.3)
    landscape.service.profiles.wait_seconds = 0.05
    cookie = _cookie(landscape.sign_in("user1", "team1"))
    time.sleep(0.4)
    event = get_event("/saml/continue", cookie="theme=dark")
    event["multiValueHeaders"]["Cookie"] = ["theme=dark", cookie]
    landed = landscape.invoke(event)
    assert landed["statusCode"] == 302, landed["body"]


def test_profile_not_yet_visible_after_create_is_waited_for(landscape: Landscape) -> None:
    # 1st describe: truly absent; 2nd, right after the create: read-after-write lag
    seen = _fail(landscape, "DescribeUserProfile", "ResourceNotFound", 400, times=2)
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 302, response["body"]
    assert seen[0] >= 3
    assert landscape.calls["CreateUserProfile"] == 1


def test_a_short_lambda_deadline_answers_the_holding_page_instead_of_timing_out(
    landscape: Landscape,
) -> None:
    # room for the reserve and half a second of waiting, no more
    remaining = PRESIGN_RESERVE_SECONDS + handler.DEADLINE_MARGIN_SECONDS + 0.5

    class AlmostOutOfTime(LambdaContext):
        def get_remaining_time_in_millis(self) -> int:
            return int(remaining * 1000)

    emulator_settings.configure(profile_delay_seconds=3.0)
    landscape.service.profiles.wait_seconds = 10.0  # would wait the 3 s without a deadline
    body = urllib.parse.urlencode({"SAMLResponse": landscape.saml_response("user1", "team1")})
    started = time.monotonic()
    response = handler.lambda_handler(acs_event(body), AlmostOutOfTime())
    # 202: it did not wait the 3 s (a ready profile would have been a 302); and it answered
    # inside the Lambda's time less the margin kept for API Gateway's answer.
    assert response["statusCode"] == 202, response["body"]
    assert time.monotonic() - started < remaining - handler.DEADLINE_MARGIN_SECONDS
    _cookie(response)  # a continuation was issued, the assertion is not wasted


def test_a_failure_page_sends_the_person_to_the_portal_because_a_reload_cannot_work(
    landscape: Landscape,
) -> None:
    _fail(landscape, "AssumeRole", "AccessDenied", 403, times=1)
    saml_response = landscape.saml_response("user1", "team1")

    failed = landscape.post_acs(saml_response)
    reloaded = landscape.post_acs(saml_response)  # what a browser's reload re-posts

    assert failed["statusCode"] == 502
    assert "open Studio again from your access portal" in failed["body"]
    assert "Reloading this page cannot work" in failed["body"]
    assert "Try again in a minute" not in failed["body"]
    assert reloaded["statusCode"] == 401  # the assertion was used by the failed sign-in
    assert landscape.sign_in("user1", "team1")["statusCode"] == 302  # a new one from the portal
