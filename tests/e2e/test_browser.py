"""The local stack in a real headless Chromium: portal -> application -> ACS -> Studio stand-in.

The stack's profiles take longer to become InService than the broker waits,
so the first sign-in goes through the holding page: that checks in a real
browser that the broker's ``__Host-`` continuation cookie (Secure, SameSite
Strict) is kept on http://127.0.0.1 and sent back on the page's reload.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from broker.local.stack import LocalStack, quiet_http_logs
from tests.e2e.chromium import requires_chromium
from tests.e2e.conftest import stack_options

pytestmark = requires_chromium


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack whose new profiles stay Pending longer than the broker's first wait."""
    quiet_http_logs()
    options = stack_options(tmp_path_factory.mktemp("local-state"),
                            profile_delay_seconds=1.0, profile_wait_seconds=0.3)
    with LocalStack(options) as running:
        yield running




def _open_application(browser: WebDriver, stack: LocalStack, user: str, team: str) -> None:
    browser.get(stack.portal_url)
    browser.find_element(By.ID, f"user-{user}").click()
    browser.find_element(By.ID, f"app-{team}").click()


def _wait_for_heading(browser: WebDriver, text: str, seconds: float = 15) -> None:
    WebDriverWait(browser, seconds).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), text))


def test_user1_opens_team1_and_lands_in_team1s_studio(stack: LocalStack, browser: WebDriver) -> None:
    _open_application(browser, stack, "user1", "team1")

    # The first sign-in gets the holding page and its cookie; the page reloads itself with it.
    _wait_for_heading(browser, "Preparing Studio for Fraud analytics", seconds=5)
    cookie = browser.get_cookie("__Host-studio-broker-continue")
    assert cookie is not None, "Chromium refused the broker's Secure __Host- cookie on http://127.0.0.1"
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"], cookie["path"]) == (
        True, True, "Strict", "/")
    _wait_for_heading(browser, "SageMaker Studio (local stand-in)")
    facts = {key: browser.find_element(By.ID, key).text
             for key in ("account", "region", "domain", "profile", "execution-role")}
    assert facts == {
        "account": "111111111111", "region": "us-east-1", "domain": "d-team1studio",
        "profile": "team1--user1",
        "execution-role": "arn:aws:iam::111111111111:role/studio-team1-execution",
    }
    assert browser.current_url.startswith(f"{stack.base_url}/studio/111111111111/us-east-1/d-team1studio/")
    # its token gone on landing: the cookie only says "used"
    assert browser.get_cookie("__Host-studio-broker-continue")["value"] == "used"

    # The Studio link is single use: reloading it is refused.
    browser.refresh()
    _wait_for_heading(browser, "Studio link refused")

    # A second sign-in finds the profile InService and goes straight through.
    _open_application(browser, stack, "user1", "team1")
    _wait_for_heading(browser, "SageMaker Studio (local stand-in)", seconds=5)
    assert browser.find_element(By.ID, "profile").text == "team1--user1"


def test_user_without_access_sees_the_refusal_page(stack: LocalStack, browser: WebDriver) -> None:
    browser.get(stack.portal_url)
    browser.find_element(By.ID, "user-user3").click()
    own = browser.find_element(By.TAG_NAME, "main").text.split("Teams you are not in")[0]
    # No team application of their own: only the one Studio tile, whose teams come from the store.
    assert "SageMaker Studio" in own and "Fraud analytics" not in own and "Churn modelling" not in own
    browser.find_element(By.ID, "app-team1").click()

    _wait_for_heading(browser, "Access denied")
    body = browser.find_element(By.TAG_NAME, "main").text
    assert "You do not have access to Studio for Fraud analytics." in body
    assert "Reference:" in body
    assert browser.current_url == f"{stack.base_url}/saml/acs"


def test_the_dev_idp_keys_stay_in_the_state_folder(stack: LocalStack) -> None:
    state = Path(stack.options.state_dir)
    assert sorted(p.name for p in (state / "idp").iterdir()) == [
        "sagemaker-studio.cert.pem", "sagemaker-studio.key.pem",
        "studio-team1.cert.pem", "studio-team1.key.pem", "studio-team2.cert.pem", "studio-team2.key.pem"]
    assert (state / "idp" / "studio-team1.key.pem").stat().st_mode & 0o077 == 0
