"""What each page says, per status, through the real handler: what happened, what to do, the reference."""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import replace
from typing import Any

from lxml import etree

from broker import handler
from broker.emulator import settings as emulator_settings
from tests.functional.conftest import ACS_URL, Landscape, get_event, headers_of
from tests.functional.test_sign_in import assert_refused

PORTAL = "https://d-9067000000.awsapps.com/start"
REQUEST_ACCESS = "https://servicedesk.example.com/studio/access"


def _reference(body: str) -> str:
    found = re.search(r"Reference: <code>([^<]*)</code>", body)
    assert found, body
    return found.group(1)


def _with_request_id(event: dict[str, Any], request_id: str) -> dict[str, Any]:
    event["requestContext"] = {**event["requestContext"], "requestId": request_id}
    return event


def _cookie(response: dict[str, Any]) -> str:
    cookie = response["multiValueHeaders"]["Set-Cookie"][0]
    return cookie.split(";", 1)[0]


def _continue_link(body: str) -> str:
    found = re.search(r'id="continue" class="button primary" href="([^"]*)"', body)
    assert found, body
    return found.group(1).replace("&amp;", "&")


def _continue_event(link: str, cookie: str | None, request_id: str) -> dict[str, Any]:
    parts = urllib.parse.urlsplit(link)
    event = get_event("/saml/continue", cookie=cookie)
    query = dict(urllib.parse.parse_qsl(parts.query))
    event["queryStringParameters"] = query
    event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    return _with_request_id(event, request_id)


def test_refusal_names_the_verified_team_and_says_where_to_turn(landscape: Landscape) -> None:
    response = landscape.post_acs(landscape.saml_response("user2", "team2", app="team1"))
    assert_refused(landscape, response, 403, "You do not have access to Studio for Churn modelling.")
    body = response["body"]
    assert "<h1>Access denied</h1>" in body
    assert f'href="{PORTAL}">Back to the access portal</a>' in body
    assert f'href="{REQUEST_ACCESS}">Request access to Churn modelling</a>' in body
    assert "Contact Churn modelling leads (#churn-help)" in body  # the team's own contact
    assert landscape.replay_items() == 0


def test_an_unverified_refusal_names_no_team(landscape: Landscape) -> None:
    forged = landscape.idps["team2"].build_response(
        user_id="user1", team_id="team1", audience="urn:example:studio-broker", acs_url=ACS_URL,
        issuer=landscape.idps["team1"].issuer, response_issuer=landscape.idps["team1"].issuer)
    response = landscape.post_acs(landscape.idps["team2"].encode(forged))
    assert_refused(landscape, response, 401, "Your sign-in could not be verified.")
    body = response["body"]
    assert "Fraud analytics" not in body and "team1" not in body
    assert "Contact the Data Platform team (#studio-help)" in body  # the table's contact
    assert "Request access" not in body
    assert landscape.replay_items() == 0


def test_maintenance_is_a_503_with_retry_after_and_the_teams_message(landscape: Landscape) -> None:
    teams = dict(landscape.routing.teams)
    teams["team1"] = replace(teams["team1"], enabled=False,
                             disabled_message="Studio for Fraud analytics is being upgraded until 14:00 UTC.")
    landscape.service.routing = replace(landscape.routing, teams=teams)
    response = landscape.sign_in("user1", "team1")
    assert_refused(landscape, response, 503, "being upgraded until 14:00 UTC")
    assert headers_of(response)["Retry-After"] == "600"
    assert "<h1>Studio under maintenance</h1>" in response["body"]
    assert landscape.replay_items() == 0


def test_405_and_413_say_what_happened(landscape: Landscape) -> None:
    wrong_method = landscape.invoke(get_event("/saml/acs"))
    assert_refused(landscape, wrong_method, 405, "does not sign you in")
    assert "<h1>This address cannot be opened directly</h1>" in wrong_method["body"]
    assert headers_of(wrong_method)["Allow"] == "POST"
    too_large = landscape.post_acs("A" * (landscape.routing.service_provider.max_body_bytes + 10))
    assert_refused(landscape, too_large, 413, "larger than the broker accepts")
    assert "<h1>Sign-in request too large</h1>" in too_large["body"]
    assert "malformed" not in wrong_method["body"] + too_large["body"]


def test_the_reference_stays_the_same_across_every_poll(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=30)
    landscape.service.profiles.wait_seconds = 0.05
    landscape.service.resume_wait_seconds = 0.05
    first = landscape.sign_in("user1", "team1")
    assert first["statusCode"] == 202
    reference = _reference(first["body"])
    assert "<h1>Preparing Studio for Fraud analytics</h1>" in first["body"]

    second = landscape.invoke(_continue_event(_continue_link(first["body"]), _cookie(first), "poll-2"))
    assert second["statusCode"] == 202 and _reference(second["body"]) == reference
    # Even the page that ends the wait quotes the first reference: here the continuation was used.
    reused = landscape.invoke(_continue_event(_continue_link(second["body"]), _cookie(first), "poll-3"))
    assert reused["statusCode"] == 400 and "<h1>Sign-in expired</h1>" in reused["body"]
    assert _reference(reused["body"]) == reference


def test_a_refused_cookie_is_told_apart_from_an_expired_sign_in(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=30)
    landscape.service.profiles.wait_seconds = 0.05
    first = landscape.sign_in("user1", "team1")
    link = _continue_link(first["body"])

    refused = landscape.invoke(_continue_event(link, None, "no-cookie"))
    assert refused["statusCode"] == 400 and "did not send back the cookie" in refused["body"]
    assert "Location" not in headers_of(refused)
    assert "<h1>Your browser refused the sign-in cookie</h1>" in refused["body"]
    assert _reference(refused["body"]) == _reference(first["body"])

    stale = link.replace(re.search(r"at=(\d+)", link).group(1),  # type: ignore[union-attr]
                         str(int(time.time()) - handler.CONTINUE_COOKIE_SECONDS - 60))
    expired = landscape.invoke(_continue_event(stale, None, "much-later"))
    assert expired["statusCode"] == 400 and "<h1>Sign-in expired</h1>" in expired["body"]
    bare = landscape.invoke(get_event("/saml/continue"))
    assert bare["statusCode"] == 400 and "<h1>Sign-in expired</h1>" in bare["body"]


def test_a_continue_link_followed_again_after_landing_is_used_not_a_refused_cookie(
        landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=0.3)
    landscape.service.profiles.wait_seconds = 0.05
    first = landscape.sign_in("user1", "team1")
    link = _continue_link(first["body"])
    token = first["multiValueHeaders"]["Set-Cookie"][0].split(";", 1)[0]
    time.sleep(0.4)
    landed = landscape.invoke(_continue_event(link, token, "landed"))
    assert landed["statusCode"] == 302
    # the token is gone from the browser; what is left says "used" for the cookie's lifetime
    (left,) = landed["multiValueHeaders"]["Set-Cookie"]
    assert left.startswith(f"{handler.CONTINUE_COOKIE}={handler.USED};")
    assert token.split("=", 1)[1] not in left
    again = landscape.invoke(_continue_event(link, left.split(";", 1)[0], "back"))  # Back, within 300 s
    assert again["statusCode"] == 400 and "<h1>Sign-in expired</h1>" in again["body"]
    assert "Location" not in headers_of(again)
    assert len(landscape.all_profiles()) == 1  # nothing more made


def test_the_holding_page_continues_by_script_allowed_by_its_hash(landscape: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=30)
    landscape.service.profiles.wait_seconds = 0.05
    first = landscape.sign_in("user1", "team1")
    body, headers = first["body"], headers_of(first)
    assert "http-equiv" not in body and "<noscript>" in body
    assert f'data-after="{handler.HOLDING_RETRY_SECONDS}">Continue now</a>' in body
    assert re.search(r'id="elapsed" data-seconds="\d+">\d+ seconds?</strong>', body)
    policy = headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in policy and "script-src 'sha256-" in policy
    assert headers["Cache-Control"] == "no-store"
    cookie = first["multiValueHeaders"]["Set-Cookie"][0]
    assert cookie.startswith("__Host-") and "Secure" in cookie and "HttpOnly" in cookie


def test_head_health_answers_like_get_without_a_body(landscape: Landscape) -> None:
    get = landscape.invoke(get_event("/health"))
    head_event = get_event("/health")
    head_event["httpMethod"] = "HEAD"
    head = landscape.invoke(head_event)
    assert (head["statusCode"], get["statusCode"]) == (200, 200)
    assert head["body"] == "" and '"status":"ok"' in get["body"]
    assert headers_of(head)["Content-Type"] == headers_of(get)["Content-Type"] == "application/json"


def test_metadata_displays_in_a_browser_and_stays_saml_metadata_for_tools(landscape: Landscape) -> None:
    browser = get_event("/saml/metadata")
    browser["headers"]["Accept"] = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    shown = landscape.invoke(browser)
    assert headers_of(shown)["Content-Type"] == "application/xml; charset=utf-8"
    assert headers_of(shown)["Content-Disposition"].startswith("inline")
    tool = get_event("/saml/metadata")
    tool["headers"]["Accept"] = "application/samlmetadata+xml"
    fetched = landscape.invoke(tool)
    assert headers_of(fetched)["Content-Type"] == "application/samlmetadata+xml"
    root = etree.fromstring(fetched["body"].encode())
    assert root.tag == "{urn:oasis:names:tc:SAML:2.0:metadata}EntityDescriptor"
    assert shown["body"] == fetched["body"]


def test_an_unknown_path_gets_the_same_page_style(landscape: Landscape) -> None:
    response = landscape.invoke(get_event("/nothing-here"))
    assert response["statusCode"] == 404
    assert "<h1>Page not found</h1>" in response["body"]
    assert f'href="{PORTAL}"' in response["body"] and "Reference:" in response["body"]
