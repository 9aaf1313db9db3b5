"""Debian's headless Chromium driven by Selenium, for the browser tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.remote.webdriver import WebDriver

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
# The closed network refuses Chromium's background connections: turn them off.
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
)

requires_chromium = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None,
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
)


def start_chromium(
    profile_dir: Path, *, performance_log: bool = False, javascript: bool = True,
    cookies: bool = True, width: int = 1280, height: int = 900,
) -> WebDriver:
    """A fresh headless Chromium with its own profile folder; quit it when done.

    ``javascript=False`` and ``cookies=False`` are the person's own browser settings
    (content settings, as chrome://settings sets them), not DevTools emulation.
    """
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile_dir}")
    options.add_argument(f"--window-size={width},{height}")
    blocked = {name: 2 for name, allowed in (("javascript", javascript), ("cookies", cookies))
               if not allowed}
    if blocked:
        options.add_experimental_option("prefs", {
            f"profile.managed_default_content_settings.{name}": value for name, value in blocked.items()})
    if performance_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    return driver
