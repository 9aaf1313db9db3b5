"""The local stack, started in this process on free ports, once per test module.

Each module gets a fresh emulator (the stack resets it on start), so a module's
expectations about which profiles exist do not depend on another module.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from broker.local.stack import LocalStack, StackOptions, quiet_http_logs
from tests.e2e.chromium import start_chromium

ROOT = Path(__file__).resolve().parents[2]


def stack_options(state_dir: Path, **changes: object) -> StackOptions:
    """The repository's routing.yaml, users file and accounts/, on a free port, with a fresh state folder."""
    base = {"port": 0, "routing": ROOT / "routing.yaml", "users": ROOT / "local" / "users.yaml",
            "accounts_dir": ROOT / "accounts", "state_dir": state_dir, "profile_delay_seconds": 0.2}
    return StackOptions(**{**base, **changes})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    quiet_http_logs()
    with LocalStack(stack_options(tmp_path_factory.mktemp("local-state"))) as running:
        yield running


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Headless Chromium for one module (skips the module where Chromium is missing)."""
    driver = start_chromium(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.quit()
