"""The one "SageMaker Studio" tile in a real headless Chromium: picker, direct landing, refusal.

The local stack's users (local/users.yaml): user1 is in two teams' groups and
gets the picker, user2 in one and lands directly, user3 in none and is refused.
The picker is checked with axe-core and photographed (desktop and phone).
"""

from __future__ import annotations

import base64

from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from broker import pages
from broker.config import Support
from broker.local.identity_store import STUDIO_APPLICATION
from broker.local.stack import LocalStack
from tests.e2e.chromium import requires_chromium
from tests.e2e.pagecheck import check_state

pytestmark = requires_chromium


def _h1(browser: WebDriver, text: str, seconds: float = 20) -> None:
    WebDriverWait(browser, seconds).until(
        expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), text))


def _open_studio(browser: WebDriver, stack: LocalStack, user: str) -> None:
    browser.get(stack.portal_url)
    browser.find_element(By.ID, f"user-{user}").click()
    browser.find_element(By.ID, f"app-{STUDIO_APPLICATION}").click()


def test_a_person_in_two_teams_picks_one_and_lands_in_its_studio(
    stack: LocalStack, browser: WebDriver
) -> None:
    _open_studio(browser, stack, "user1")
    _h1(browser, "Choose your team")
    teams = [link.text for link in browser.find_elements(By.CSS_SELECTOR, "a.team")]
    assert len(teams) == 2
    assert "Fraud analytics" in teams[0] and "111111111111" in teams[0] and "us-east-1" in teams[0]
    assert "Churn modelling" in teams[1] and "222222222222" in teams[1] and "eu-west-1" in teams[1]
    assert len(browser.find_elements(By.TAG_NAME, "h1")) == 1
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en"
    assert "Reference:" in browser.find_element(By.TAG_NAME, "main").text
    check_state(browser, "picker", phone=True)
    chosen = browser.find_elements(By.CSS_SELECTOR, "a.team")[1].get_attribute("href")
    browser.find_elements(By.CSS_SELECTOR, "a.team")[1].click()
    _h1(browser, "Churn modelling: SageMaker Studio (local stand-in)")
    browser.get(chosen)  # the same choice again: used up
    _h1(browser, "This team choice cannot be used")
    check_state(browser, "picker-choice-used")


def test_a_team_under_maintenance_on_the_picker_is_accessible(browser: WebDriver) -> None:
    """The picker's listed-but-not-choosable entry, rendered by the broker's own page code."""
    entries = [pages.PickerEntry("https://broker.example.com/saml/choose?choice=abc", "Churn modelling",
                                 "222222222222", "eu-west-1"),
               pages.PickerEntry(None, "Fraud analytics", "111111111111", "us-east-1",
                                 note="Moving to a new network until 14:00 UTC.")]
    html = pages.picker_page(entries, pages.Help("ref-1", Support(portal_url="https://portal.example.com")))
    browser.get("data:text/html;base64," + base64.b64encode(html.encode()).decode())
    assert [e.text.splitlines()[0] for e in browser.find_elements(By.CSS_SELECTOR, "a.team")] == [
        "Churn modelling"]
    (listed,) = browser.find_elements(By.CSS_SELECTOR, "div.team.off")
    assert "Under maintenance: Moving to a new network until 14:00 UTC." in listed.text
    check_state(browser, "picker-maintenance", phone=True)


def test_a_person_in_one_team_lands_directly(stack: LocalStack, browser: WebDriver) -> None:
    _open_studio(browser, stack, "user2")
    _h1(browser, "Churn modelling: SageMaker Studio (local stand-in)")


def test_a_person_in_no_team_is_refused_with_where_to_ask(stack: LocalStack, browser: WebDriver) -> None:
    _open_studio(browser, stack, "user3")
    _h1(browser, "Access denied")
    assert browser.find_element(By.PARTIAL_LINK_TEXT, "Request access").get_attribute("href") == (
        "https://servicedesk.example.com/studio/access")
    check_state(browser, "picker-no-team")
