"""Emulator settings: defaults, env vars, runtime changes, reset."""

from __future__ import annotations

import pytest

from broker.emulator import settings
from broker.emulator.settings import EmulatorSettings


def test_defaults() -> None:
    current = settings.current()
    assert current == EmulatorSettings()
    assert current.profile_delay_seconds == 0.0
    assert current.profile_quota_per_domain == 500
    assert current.studio_base_url == "https://{domain_id}.studio.{region}.sagemaker.aws"


def test_env_vars_set_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.ENV_PROFILE_DELAY_SECONDS, "0.3")
    monkeypatch.setenv(settings.ENV_PROFILE_QUOTA, "7")
    monkeypatch.setenv(settings.ENV_STUDIO_BASE_URL, "http://localhost:1/s/{domain_id}")
    assert settings.reset() == EmulatorSettings(0.3, 7, "http://localhost:1/s/{domain_id}")
    assert settings.current().profile_quota_per_domain == 7


def test_configure_and_reset() -> None:
    changed = settings.configure(profile_delay_seconds=1.5)
    assert changed.profile_delay_seconds == 1.5
    assert settings.current() is changed
    assert settings.current().profile_quota_per_domain == 500
    assert settings.reset() == EmulatorSettings()


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"profile_delay": 1}, TypeError, "unknown emulator settings: \\['profile_delay'\\]"),
        ({"profile_delay_seconds": -1}, ValueError, "profile_delay_seconds must be >= 0"),
        ({"profile_quota_per_domain": -1}, ValueError, "profile_quota_per_domain must be >= 0"),
        ({"studio_base_url": "https://{domain}.x"}, ValueError, "unknown placeholders \\['domain'\\]"),
    ],
)
def test_bad_changes_are_refused(changes: dict[str, object], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        settings.configure(**changes)
    assert settings.current() == EmulatorSettings()


def test_studio_url() -> None:
    url = EmulatorSettings(studio_base_url="http://h/{account_id}/{region}/{domain_id}/").studio_url(
        domain_id="d-x", region="eu-west-1", account_id="111111111111"
    )
    assert url == "http://h/111111111111/eu-west-1/d-x"


def test_a_domain_can_have_a_delay_of_its_own() -> None:
    changed = settings.configure(profile_delay_seconds=2.0, profile_delay_by_domain={"d-slow": 20.0})
    assert (changed.profile_delay_for("d-slow"), changed.profile_delay_for("d-other")) == (20.0, 2.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        settings.configure(profile_delay_by_domain={"d-slow": -1.0})
    settings.reset()
