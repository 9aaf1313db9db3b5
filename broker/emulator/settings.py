"""Behaviour knobs of the emulator, changeable at runtime and through env vars.

The emulator reads :func:`current` on every request, so a test or the local
stack can change behaviour between calls with :func:`configure`. Env vars set
the defaults (for server mode); :func:`reset` returns to those defaults.
Changing the delay does not touch profiles that are already mid-transition:
each profile fixes its due time when it starts a transition.
"""

from __future__ import annotations

import os
import string
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

DEFAULT_STUDIO_BASE_URL = "https://{domain_id}.studio.{region}.sagemaker.aws"
STUDIO_URL_PLACEHOLDERS = frozenset({"domain_id", "region", "account_id"})

ENV_PROFILE_DELAY_SECONDS = "BROKER_EMULATOR_PROFILE_DELAY_SECONDS"
ENV_PROFILE_QUOTA = "BROKER_EMULATOR_PROFILE_QUOTA"
ENV_STUDIO_BASE_URL = "BROKER_EMULATOR_STUDIO_BASE_URL"


@dataclass(frozen=True)
class EmulatorSettings:
    """How the emulated SageMaker behaves.

    ``profile_delay_seconds``: how long a profile stays Pending (or Deleting,
    Updating) before it settles; 0 settles at once.
    ``profile_quota_per_domain``: user profiles allowed per domain.
    ``studio_base_url``: template of the Studio URL in presigned URLs; may use
    ``{domain_id}``, ``{region}`` and ``{account_id}``.
    ``profile_delay_by_domain``: a delay of its own for the profiles of some domains
    (domain id -> seconds), e.g. one slow team in the local stack.
    """

    profile_delay_seconds: float = 0.0
    profile_quota_per_domain: int = 500
    studio_base_url: str = DEFAULT_STUDIO_BASE_URL
    profile_delay_by_domain: Mapping[str, float] = field(default_factory=dict)

    def profile_delay_for(self, domain_id: str) -> float:
        """How long a profile of ``domain_id`` stays in a transition."""
        return self.profile_delay_by_domain.get(domain_id, self.profile_delay_seconds)

    def __post_init__(self) -> None:
        if self.profile_delay_seconds < 0 or any(v < 0 for v in self.profile_delay_by_domain.values()):
            raise ValueError("profile_delay_seconds must be >= 0 (and every delay by domain)")
        if self.profile_quota_per_domain < 0:
            raise ValueError("profile_quota_per_domain must be >= 0")
        names = {name for _, name, _, _ in string.Formatter().parse(self.studio_base_url) if name}
        unknown = names - STUDIO_URL_PLACEHOLDERS
        if unknown:
            raise ValueError(
                f"studio_base_url has unknown placeholders {sorted(unknown)}; "
                f"allowed: {sorted(STUDIO_URL_PLACEHOLDERS)}"
            )

    def studio_url(self, *, domain_id: str, region: str, account_id: str) -> str:
        """The Studio base URL for one domain, without a trailing slash."""
        url = self.studio_base_url.format(domain_id=domain_id, region=region, account_id=account_id)
        return url.rstrip("/")


def from_env(environ: Mapping[str, str] | None = None) -> EmulatorSettings:
    """Defaults, overridden by the ``BROKER_EMULATOR_*`` env vars that are set."""
    env = os.environ if environ is None else environ
    changes: dict[str, Any] = {}
    if env.get(ENV_PROFILE_DELAY_SECONDS):
        changes["profile_delay_seconds"] = float(env[ENV_PROFILE_DELAY_SECONDS])
    if env.get(ENV_PROFILE_QUOTA):
        changes["profile_quota_per_domain"] = int(env[ENV_PROFILE_QUOTA])
    if env.get(ENV_STUDIO_BASE_URL):
        changes["studio_base_url"] = env[ENV_STUDIO_BASE_URL]
    return EmulatorSettings(**changes)


# The one piece of process state: server threads and tests share it on purpose.
_lock = threading.Lock()
_current = from_env()


def current() -> EmulatorSettings:
    """The settings in force now."""
    return _current


def configure(**changes: Any) -> EmulatorSettings:
    """Change some settings (by field name) and return the new settings."""
    global _current
    known = {f.name for f in fields(EmulatorSettings)}
    unknown = set(changes) - known
    if unknown:
        raise TypeError(f"unknown emulator settings: {sorted(unknown)}")
    with _lock:
        _current = replace(_current, **changes)
        return _current


def reset() -> EmulatorSettings:
    """Restore the defaults (built-in values overridden by the env vars)."""
    global _current
    with _lock:
        _current = from_env()
        return _current
