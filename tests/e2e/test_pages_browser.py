"""Every page a person can meet, in a real headless Chromium: what it says, axe-core, a screenshot.

Each state is checked with axe-core (any violation fails) and photographed into
docs/screenshots/ for docs/pages.md. The holding page is seen with scripts on
(it continues by itself), with scripts off (a "Continue now" link) and with
cookies blocked (the page says so, instead of "expired"). Status codes and
headers are read over plain HTTP, since a browser does not show them.
"""

from __future__ import annotations

import contextlib
import html
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from broker import handler
from broker.handler import CONTINUE_COOKIE, USED
from broker.local.stack import HUB_REGION, LocalStack, quiet_http_logs, spoke_client
from tests.e2e.chromium import requires_chromium, start_chromium
from tests.e2e.conftest import stack_options
from tests.e2e.pagecheck import assert_accessible_without_scripts, check_state, screenshot

pytestmark = requires_chromium
SLOW_TEAM_SECONDS = 14.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """team1's first profiles take long (several holding pages); team2's a few seconds."""
    quiet_http_logs()
    options = stack_options(tmp_path_factory.mktemp("local-state"), profile_delay_seconds=4.0,
                            profile_wait_seconds=0.3, slow_team="team1",
                            slow_team_delay_seconds=SLOW_TEAM_SECONDS)
    with LocalStack(options) as running:
        handler.login_service().resume_wait_seconds = 0.3  # every poll answers quickly
        yield running




def _h1(browser: WebDriver, text: str, seconds: float = 15) -> None:
    WebDriverWait(browser, seconds).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), text))


def _main(browser: WebDriver) -> str:
    return browser.find_element(By.TAG_NAME, "main").text


def _reference(browser: WebDriver) -> str:
    return browser.find_element(By.CSS_SELECTOR, ".ref code").text


def _open(browser: WebDriver, stack: LocalStack, user: str, team: str) -> None:
    browser.get(stack.portal_url)
    browser.find_element(By.ID, f"user-{user}").click()
    browser.find_element(By.ID, f"app-{team}").click()


def _freeze_timers(browser: WebDriver) -> None:
    """Stop the holding page's own timers, so checks and screenshots see one state."""
    browser.execute_script(
        "let id = setTimeout(() => {}, 0); while (id > 0) { clearTimeout(id); clearInterval(id); id--; }")


def _profiles(stack: LocalStack, team: str) -> list[str]:
    spoke = next(s for s in stack.spokes if s.team_id == team)
    sagemaker = spoke_client(boto3.Session(region_name=HUB_REGION), spoke.account_id, spoke.region)(
        "sagemaker")
    listed = sagemaker.list_user_profiles(DomainIdEquals=spoke.domain_id)["UserProfiles"]
    return [p["UserProfileName"] for p in listed]


def _http(stack: LocalStack, path: str, *, method: str = "GET", data: bytes | None = None,
          headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(stack.base_url + path, data=data, method=method,
                                     headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def _signed_form(stack: LocalStack, user: str, team: str) -> bytes:
    """The form the dev IdP would post for ``user`` and ``team``."""
    _, _, page = _http(stack, f"/idp/start?user={user}&team={team}")
    value = html.unescape(re.search(r'name="SAMLResponse" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    return urllib.parse.urlencode({"SAMLResponse": value}).encode()


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_the_portal_says_who_each_user_is_and_what_each_tile_opens(
    stack: LocalStack, browser: WebDriver
) -> None:
    browser.get(stack.portal_url)
    assert "holding page" in browser.find_element(By.ID, "user-user1").text
    check_state(browser, "portal", phone=True)
    browser.find_element(By.ID, "user-user2").click()
    tile = browser.find_element(By.ID, "app-team2").text
    assert "Churn modelling" in tile and "account 222222222222" in tile and "eu-west-1" in tile
    assert "Fraud analytics (no access)" in browser.find_element(By.ID, "app-team1").text
    check_state(browser, "portal-user")


def test_a_refusal_names_the_team_and_says_where_to_turn(stack: LocalStack, browser: WebDriver) -> None:
    _open(browser, stack, "user3", "team1")
    _h1(browser, "Access denied")
    text = _main(browser)
    assert "You do not have access to Studio for Fraud analytics." in text
    assert "Need help? Contact the Data Platform team" in text and "Reference:" in text
    back = browser.find_element(By.LINK_TEXT, "Back to the access portal")
    assert back.get_attribute("href") == stack.portal_url
    request = browser.find_element(By.PARTIAL_LINK_TEXT, "Request access to Fraud analytics")
    assert request.get_attribute("href") == "https://servicedesk.example.com/studio/access"
    check_state(browser, "refusal", phone=True)
    assert "team1--user3" not in _profiles(stack, "team1")
    back.click()
    _h1(browser, "Sign in as")


def test_maintenance_is_a_503_with_retry_after(stack: LocalStack, browser: WebDriver) -> None:
    service = handler.login_service()
    table = service.routing
    teams = dict(table.teams)
    teams["team2"] = replace(teams["team2"], enabled=False, disabled_message=(
        "Studio for Churn modelling is being upgraded today until 18:00 UTC."))
    service.routing = replace(table, teams=teams)
    try:
        _open(browser, stack, "user2", "team2")
        _h1(browser, "Studio under maintenance")
        assert "being upgraded today until 18:00 UTC" in _main(browser)
        assert "Churn modelling leads (#churn-help)" in _main(browser)  # the team's own contact
        check_state(browser, "maintenance")
        status, headers, body = _http(stack, "/saml/acs", method="POST", headers=FORM,
                                      data=_signed_form(stack, "user2", "team2"))
        assert (status, headers["Retry-After"]) == (503, "600")
        assert "Studio under maintenance" in body
    finally:
        service.routing = table
    assert "team2--user2" not in _profiles(stack, "team2")


def test_the_holding_page_continues_by_itself_and_keeps_one_reference(
    stack: LocalStack, browser: WebDriver
) -> None:
    started = time.monotonic()
    _open(browser, stack, "user1", "team1")
    _h1(browser, "Preparing Studio for Fraud analytics", seconds=10)
    _freeze_timers(browser)
    reference = _reference(browser)
    text = _main(browser)
    assert "This page continues by itself" in text and "Scripts are off" not in text
    assert re.search(r"Working on it for \d+ seconds?", text)
    assert browser.get_cookie(CONTINUE_COOKIE) is not None
    check_state(browser, "holding", phone=True)

    time.sleep(max(0.0, started + 3 - time.monotonic()))  # so the next page has 2 s to show
    browser.find_element(By.ID, "continue").click()  # by hand once; from here on by itself
    _h1(browser, "Preparing Studio for Fraud analytics")
    assert _reference(browser) == reference
    elapsed = browser.find_element(By.ID, "elapsed")
    assert int(elapsed.get_attribute("data-seconds") or 0) >= 2  # since the sign-in, not this page
    before = elapsed.text
    WebDriverWait(browser, 5).until(lambda _: browser.find_element(By.ID, "elapsed").text != before)
    seen = {reference}
    deadline = time.monotonic() + SLOW_TEAM_SECONDS + 20
    while "Studio (local stand-in)" not in browser.title and time.monotonic() < deadline:
        with contextlib.suppress(WebDriverException):  # between two pages
            seen.add(_reference(browser))
        time.sleep(0.3)
    assert seen == {reference}, "every holding page of one sign-in shows one reference"
    _h1(browser, "Fraud analytics: SageMaker Studio (local stand-in)")
    assert browser.find_element(By.ID, "team").text == "Fraud analytics"
    assert browser.find_element(By.ID, "session").text == "12 hours"
    assert browser.get_cookie(CONTINUE_COOKIE)["value"] == USED  # the token is gone
    check_state(browser, "studio", phone=True)
    assert browser.find_element(By.ID, "back").get_attribute("href") == stack.portal_url


def test_with_scripts_off_the_holding_page_offers_continue_now(
    stack: LocalStack, browser: WebDriver, tmp_path: Path
) -> None:
    no_js = start_chromium(tmp_path / "no-js", javascript=False)
    try:
        no_js.get(stack.portal_url)
        no_js.find_element(By.ID, "user-user2").click()
        no_js.find_element(By.ID, "app-team2").click()
        no_js.find_element(By.CSS_SELECTOR, "button").click()  # the IdP's form, by hand
        _h1(no_js, "Preparing Studio for Churn modelling")
        text = _main(no_js)
        assert "Scripts are off in this browser" in text
        assert "This page continues by itself" not in text
        screenshot(no_js, "holding-noscript")
        assert_accessible_without_scripts(no_js, browser)
        time.sleep(4.5)  # team2's profile is ready by now; nothing moved by itself
        assert "Preparing Studio" in no_js.find_element(By.TAG_NAME, "h1").text
        no_js.find_element(By.LINK_TEXT, "Continue now").click()
        _h1(no_js, "Churn modelling: SageMaker Studio (local stand-in)")
    finally:
        no_js.quit()


def test_with_cookies_blocked_the_page_says_so(stack: LocalStack, tmp_path: Path) -> None:
    browser = start_chromium(tmp_path / "no-cookies", cookies=False)
    try:
        _open(browser, stack, "user1", "team2")
        _h1(browser, "Preparing Studio for Churn modelling")
        reference = _reference(browser)
        _h1(browser, "Your browser refused the sign-in cookie", seconds=15)  # continued by itself
        text = _main(browser)
        assert "did not send back the cookie" in text and "Allow cookies for this site" in text
        assert "expired" not in text
        assert _reference(browser) == reference
        check_state(browser, "cookie-refused", phone=True)
    finally:
        browser.quit()


def test_an_expired_sign_in(stack: LocalStack, browser: WebDriver) -> None:
    browser.get(f"{stack.base_url}/saml/continue")
    _h1(browser, "Sign-in expired")
    assert "Open Studio again from your access portal." in _main(browser)
    check_state(browser, "expired")


def test_405_page_allow_header(stack: LocalStack, browser: WebDriver) -> None:
    browser.get(f"{stack.base_url}/saml/acs")
    _h1(browser, "This address cannot be opened directly")
    assert "does not sign you in" in _main(browser)
    check_state(browser, "method-not-allowed")
    status, headers, _ = _http(stack, "/saml/acs")
    assert (status, headers["Allow"]) == (405, "POST")


def test_413_page(stack: LocalStack, browser: WebDriver) -> None:
    assert stack.routing is not None
    size = stack.routing.service_provider.max_body_bytes + 100
    browser.get(stack.portal_url)  # the portal's page posts it, as the IdP would
    browser.execute_script(
        "const f = document.createElement('form'); f.method = 'post'; f.action = arguments[0];"
        "const i = document.createElement('input'); i.type = 'hidden'; i.name = 'SAMLResponse';"
        "i.value = 'A'.repeat(arguments[1]); f.appendChild(i); document.body.appendChild(f); f.submit();",
        f"{stack.broker_url}/saml/acs", size)
    _h1(browser, "Sign-in request too large")
    assert "larger than the broker accepts" in _main(browser)
    check_state(browser, "too-large")
    status, _, body = _http(stack, "/saml/acs", method="POST", headers=FORM,
                            data=urllib.parse.urlencode({"SAMLResponse": "A" * size}).encode())
    assert status == 413 and "Sign-in request too large" in body


def test_one_not_found_page_across_the_local_stack(stack: LocalStack, browser: WebDriver) -> None:
    for path in ("/saml/nothing", "/nothing", "/studio/nothing"):
        browser.get(stack.base_url + path)
        _h1(browser, "Page not found")
        assert browser.find_element(By.CSS_SELECTOR, ".card.error")
        assert browser.find_element(By.LINK_TEXT, "Back to the access portal")
        assert _http(stack, path)[0] == 404
    browser.get(stack.base_url + "/saml/nothing")
    check_state(browser, "not-found")


def test_metadata_is_shown_in_the_browser_and_head_health(stack: LocalStack, browser: WebDriver) -> None:
    browser.get(f"{stack.base_url}/saml/metadata")
    WebDriverWait(browser, 10).until(lambda b: "EntityDescriptor" in b.page_source)
    assert browser.current_url == f"{stack.base_url}/saml/metadata"  # displayed, not downloaded
    screenshot(browser, "metadata")
    status, headers, body = _http(stack, "/saml/metadata", headers={"Accept": "application/samlmetadata+xml"})
    assert (status, headers["Content-Type"]) == (200, "application/samlmetadata+xml")
    assert "urn:oasis:names:tc:SAML:2.0:metadata" in body
    status, headers, body = _http(stack, "/health", method="HEAD")
    assert (status, body, headers["Content-Type"]) == (200, "", "application/json")
