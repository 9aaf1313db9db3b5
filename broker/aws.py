"""The one place where AWS clients are made, and where every AWS call is bounded.

Every AWS call of the broker goes through a client from :class:`AwsClients`
(botocore's clients, the same objects ``boto3.client`` returns), so the SDK's
own ``AWS_ENDPOINT_URL`` setting points the whole broker at the emulator, and
tests and the benchmark can count calls on one botocore session.

Clients are made once per (service, region) and kept: making one costs about
9 ms of CPU and 0.8 MB. Calls in a spoke run as the person signing in, yet do
not get a client each (memory would grow with every person the container
serves): one shared spoke client per (service, region) signs each request with
the credentials bound to the calling thread or task (:class:`ActingClient`,
through botocore's per-request ``request_credentials``). A spoke client signs
with nothing else: a call with no person bound fails instead of running as
the broker.

The request's deadline (:func:`within_deadline`) bounds every call: each
attempt's read timeout is at most the time left, no attempt starts after the
deadline, and no retry is made whose longest backoff would not fit.
"""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import BotoCoreError, NoCredentialsError

DEFAULT_RETRY_MODE = "standard"
# Every call: at most this many HTTP attempts (botocore's ``max_attempts`` counts
# retries, ``total_max_attempts`` counts attempts), each within the deadline.
TOTAL_MAX_ATTEMPTS = 5
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 8
# An attempt that cannot get this long is not started.
MIN_ATTEMPT_SECONDS = 0.1
# botocore's standard and legacy backoff before retry n is at most min(20, 2 ** (n - 1)) s.
MAX_BACKOFF_SECONDS = 20.0

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "broker_aws_deadline", default=None)
_acting_as: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar(
    "broker_aws_acting_as", default=None)


class DeadlineExceeded(BotoCoreError):
    """The request's deadline passed before an AWS attempt could start."""

    fmt = "The request's deadline passed before {operation} could be attempted"


def client_config(retry_mode: str | None = None) -> Config:
    """Timeouts and retries for every client: short, because a person is waiting."""
    mode = retry_mode or os.environ.get("BROKER_RETRY_MODE", DEFAULT_RETRY_MODE)
    return Config(
        retries={"mode": mode, "total_max_attempts": TOTAL_MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        tcp_keepalive=True,
    )


@contextmanager
def within_deadline(deadline: float | None) -> Iterator[None]:
    """Bound every AWS call made inside (this thread or task) by ``deadline`` (``time.monotonic()``)."""
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds until the bound deadline, ``None`` when no deadline is bound."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def _bound_attempt(request: Any, event_name: str = "", **_: Any) -> None:
    """``before-send``: no attempt after the deadline; the attempt's read timeout fits in what is left."""
    left = time_left()
    if left is None:
        return
    if left < MIN_ATTEMPT_SECONDS:
        raise DeadlineExceeded(operation=event_name.rsplit(".", 1)[-1] or "the call")
    # botocore's per-request read timeout (the pool's connect timeout still applies)
    request.context["read_timeout"] = min(READ_TIMEOUT_SECONDS, left)


def _retry_only_in_time(attempts: int, **_: Any) -> bool | None:
    """``needs-retry``, ahead of botocore's own handler: ``False`` (no retry) when the
    longest backoff before the next attempt plus that attempt would not fit."""
    left = time_left()
    if left is None:
        return None
    longest_backoff = min(MAX_BACKOFF_SECONDS, 2.0 ** (attempts - 1))
    return False if left < longest_backoff + MIN_ATTEMPT_SECONDS else None


class _ActingAs:
    """Binds one person's credentials to the calls made inside (``with``)."""

    __slots__ = ("_credentials", "_token")

    def __init__(self, credentials: Credentials) -> None:
        self._credentials = credentials

    def __enter__(self) -> None:
        self._token = _acting_as.set(self._credentials)

    def __exit__(self, *_: object) -> None:
        _acting_as.reset(self._token)


def acting_credentials() -> Credentials | None:
    """The person's credentials bound to the call in progress (``None``: the hub's own)."""
    return _acting_as.get()


def _sign_as_bound(request: Any, **_: Any) -> None:
    """``before-sign`` on spoke clients: sign with the bound person's credentials, or not at all."""
    credentials = _acting_as.get()
    if credentials is None:
        raise NoCredentialsError()
    request.context.setdefault("signing", {})["request_credentials"] = credentials


class ActingClient:
    """A shared spoke client whose every call (pages included) is signed as one person."""

    def __init__(self, client: Any, credentials: Credentials) -> None:
        self._client = client
        self.credentials = credentials

    @property
    def meta(self) -> Any:
        return self._client.meta

    @property
    def exceptions(self) -> Any:
        return self._client.exceptions

    def get_paginator(self, operation_name: str) -> _ActingPaginator:
        return _ActingPaginator(self._client.get_paginator(operation_name), self.credentials)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name not in self._client.meta.method_to_api_mapping:
            raise AttributeError(name)
        method = getattr(self._client, name)
        credentials = self.credentials

        def call(*args: Any, **kwargs: Any) -> Any:
            with _ActingAs(credentials):
                return method(*args, **kwargs)

        return call


class _ActingPaginator:
    def __init__(self, paginator: Any, credentials: Credentials) -> None:
        self._paginator = paginator
        self._credentials = credentials

    def paginate(self, **kwargs: Any) -> Iterator[Any]:
        pages = iter(self._paginator.paginate(**kwargs))
        while True:
            with _ActingAs(self._credentials):  # bound per page: never across a yield
                page = next(pages, None)
            if page is None:
                return
            yield page


class AwsClients:
    """Cached botocore clients for the hub and shared ones for spoke sessions, on one botocore session."""

    def __init__(
        self, session: botocore.session.Session | None = None, config: Config | None = None
    ) -> None:
        # botocore's own session: boto3 adds nothing for clients but ~60 ms of
        # imports (s3transfer) to every cold start.
        self.session = session or botocore.session.get_session()
        self.config = config or client_config()
        self._clients: dict[tuple[str, str | None, bool], Any] = {}
        self._lock = threading.Lock()
        # On the session before any client exists: clients copy its emitter when made.
        self.session.register("before-send", _bound_attempt)

    def register(self, event_name: str, handler: Any, *, first: bool = False) -> None:
        """Hook a botocore event on every client, made now or later (tests count calls this way).

        botocore copies the session's event emitter into a client when the client
        is made, so the handler goes on both the session and each cached client.
        """
        emitters = [self.session.get_component("event_emitter")]
        with self._lock:
            emitters += [client.meta.events for client in self._clients.values()]
        for emitter in emitters:
            (emitter.register_first if first else emitter.register)(event_name, handler)

    def hub(self, service: str, region: str | None = None) -> Any:
        """A client with the broker's own credentials (the Lambda role)."""
        return self._cached((service, region, False), lambda: self.session.create_client(
            service, region_name=region, config=self.config))

    def acting(self, service: str, region: str, credentials: Credentials) -> ActingClient:
        """The shared ``service`` client of ``region``, signing every call with ``credentials``."""
        return ActingClient(self._cached((service, region, True), lambda: self._spoke_client(
            service, region)), credentials)

    def client_count(self) -> int:
        """How many botocore clients exist (constant in the number of people served)."""
        return len(self._clients)

    def _spoke_client(self, service: str, region: str) -> Any:
        # Placeholder keys that no AWS account accepts; _sign_as_bound replaces them
        # on every request, or refuses to sign.
        client = self.session.create_client(
            service, region_name=region, config=self.config,
            aws_access_key_id="UNBOUND", aws_secret_access_key="UNBOUND")
        client.meta.events.register_first("before-sign", _sign_as_bound)
        return client

    def _cached(self, key: tuple[str, str | None, bool], make: Callable[[], Any]) -> Any:
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = make()
                    # Ahead of botocore's retry handler, which it registers per client on
                    # the service's own event (more specific names are asked first).
                    service_event = client.meta.service_model.service_id.hyphenize()
                    client.meta.events.register_first(
                        f"needs-retry.{service_event}", _retry_only_in_time)
                    self._clients[key] = client
        return client


def session_credentials(access_key_id: str, secret_access_key: str, session_token: str) -> Credentials:
    """botocore credentials of one AssumeRole session (what :meth:`AwsClients.acting` signs with)."""
    return Credentials(access_key_id, secret_access_key, session_token, method="assume-role")
