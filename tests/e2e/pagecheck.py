"""What every page state of the browser tests goes through: axe-core, and a screenshot for the docs.

axe-core comes from npm (``make axe``: ``build/axe/node_modules/axe-core``, or
``BROKER_AXE_JS``). Without it the checks are skipped, except where
``BROKER_REQUIRE_AXE=1`` (``make test``, CI): there a missing axe-core fails.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

ROOT = Path(__file__).resolve().parents[2]
AXE_JS = Path(os.environ.get("BROKER_AXE_JS") or ROOT / "build/axe/node_modules/axe-core/axe.min.js")
# build/ by default, so a test run leaves the committed pictures alone; `make screenshots` refreshes docs/.
SCREENSHOTS = Path(os.environ.get("BROKER_SCREENSHOT_DIR") or ROOT / "build/screenshots")
PHONE = (390, 844)
DESKTOP = (1280, 900)


def axe_source() -> str:
    """axe-core's script; fails (CI) or skips (elsewhere) when it is not installed."""
    if not AXE_JS.is_file():
        message = f"axe-core is not installed at {AXE_JS}: run `make axe`"
        if os.environ.get("BROKER_REQUIRE_AXE") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(browser: WebDriver) -> list[dict[str, Any]]:
    """Every axe-core violation on the current page (all rules axe runs by default, WCAG 2.2 AA
    and best practices), as ``{id, impact, help, targets}``."""
    browser.execute_script(axe_source())
    result = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']})"
        ".then(r => done(JSON.stringify(r.violations)), e => done(JSON.stringify({error: String(e)})));")
    found = json.loads(result)
    if isinstance(found, dict):
        raise AssertionError(f"axe-core failed: {found['error']}")
    return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
             "targets": [n["target"] for n in v["nodes"]]} for v in found]


def assert_accessible(browser: WebDriver) -> None:
    """No axe-core violation at all on the current page."""
    violations = axe_violations(browser)
    assert violations == [], json.dumps(violations, indent=1)


def assert_accessible_without_scripts(no_js: WebDriver, checker: WebDriver) -> None:
    """axe-core on the page ``no_js`` (scripts off) shows, run in ``checker`` (scripts on).

    axe-core is a script: it cannot run where scripts are off. The DOM the no-script
    browser built (``<noscript>`` content parsed as elements) is loaded into the other
    browser, without its own script and with ``<noscript>`` unwrapped, and checked there.
    """
    markup = re.sub(r"</?noscript>", "", no_js.page_source)
    markup = re.sub(r"<script>.*?</script>", "", markup, flags=re.S)
    checker.get("data:text/html;base64," + base64.b64encode(markup.encode()).decode())
    assert_accessible(checker)


def screenshot(browser: WebDriver, name: str, *, phone: bool = False) -> Path:
    """``<SCREENSHOTS>/<name>.png`` of the current page at desktop (or phone) width."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    width, height = PHONE if phone else DESKTOP
    browser.set_window_size(width, height)
    browser.save_screenshot(str(path))
    if phone:
        browser.set_window_size(*DESKTOP)
    return path


def check_state(browser: WebDriver, name: str, *, phone: bool = False) -> None:
    """One page state: axe-clean, and its screenshot (also at phone width when ``phone``)."""
    assert_accessible(browser)
    screenshot(browser, name)
    if phone:
        screenshot(browser, f"{name}-phone", phone=True)
