"""The presigned-URL tokens the emulator issues: one process-wide registry.

The Studio stand-in redeems a token without knowing which account issued it,
so tokens live here rather than in a per-account backend.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace

from .exceptions import PresignedTokenAlreadyUsed, PresignedTokenExpired, UnknownPresignedToken

_TOKEN_GRACE_SECONDS = 3600.0


@dataclass(frozen=True)
class PresignedToken:
    """What a presigned URL grants: who, where, until when; ``used`` after redeem."""

    token: str
    account_id: str
    region: str
    domain_id: str
    user_profile_name: str
    execution_role: str | None
    landing_uri: str | None
    space_name: str | None
    session_expiration_seconds: int
    issued_at: float
    expires_at: float
    used: bool = False


class PresignedTokenRegistry:
    """All issued tokens of this process, across accounts and regions."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, PresignedToken] = {}

    def issue(self, record: PresignedToken) -> None:
        with self._lock:
            self._records[record.token] = record
            if len(self._records) % 1000 == 0:
                self._prune(record.issued_at)

    def redeem(self, token: str, now: float | None = None) -> PresignedToken:
        """Mark ``token`` used and return its record; single use, time-limited."""
        at = time.time() if now is None else now
        with self._lock:
            record = self._records.get(token)
            if record is None:
                raise UnknownPresignedToken("no presigned URL was issued with this token")
            if record.used:
                raise PresignedTokenAlreadyUsed("this presigned URL was already used")
            if at > record.expires_at:
                raise PresignedTokenExpired("this presigned URL has expired")
            used = replace(record, used=True)
            self._records[token] = used
            return used

    def peek(self, token: str) -> PresignedToken | None:
        """The record of ``token`` without redeeming it (for tests and diagnostics)."""
        with self._lock:
            return self._records.get(token)

    def forget(self, account_id: str, region: str) -> None:
        """Drop the tokens of one account and region (when moto resets that backend)."""
        with self._lock:
            self._records = {
                token: record
                for token, record in self._records.items()
                if (record.account_id, record.region) != (account_id, region)
            }

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def _prune(self, now: float) -> None:
        cutoff = now - _TOKEN_GRACE_SECONDS
        self._records = {t: r for t, r in self._records.items() if r.expires_at >= cutoff}


presigned_tokens = PresignedTokenRegistry()
