"""The one place where AWS clients are made.

Every AWS call of the broker goes through a client from :class:`AwsClients`
(botocore's clients, the same objects ``boto3.client`` returns), so the SDK's
own ``AWS_ENDPOINT_URL`` setting points the whole broker at the emulator, and
tests and the benchmark can count calls on one botocore session.
Clients are cached: making one costs milliseconds and a warm login must not.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import botocore.session
from botocore.config import Config

DEFAULT_RETRY_MODE = "standard"


def client_config(retry_mode: str | None = None) -> Config:
    """Timeouts and retries for every client: short, because a person is waiting."""
    mode = retry_mode or os.environ.get("BROKER_RETRY_MODE", DEFAULT_RETRY_MODE)
    return Config(
        retries={"mode": mode, "max_attempts": 4},
        connect_timeout=2,
        read_timeout=8,
        tcp_keepalive=True,
    )


class AwsClients:
    """Cached boto3 clients for the hub and for spoke sessions, all on one botocore session."""

    def __init__(
        self, session: botocore.session.Session | None = None, config: Config | None = None
    ) -> None:
        # botocore's own session: boto3 adds nothing for clients but ~60 ms of
        # imports (s3transfer) to every cold start.
        self.session = session or botocore.session.get_session()
        self.config = config or client_config()
        self._clients: dict[tuple[str, str | None, str | None], Any] = {}
        self._lock = threading.Lock()

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
        return self._cached((service, region, None), lambda: self.session.create_client(
            service, region_name=region, config=self.config))

    def with_credentials(self, service: str, region: str, credentials: dict[str, Any]) -> Any:
        """A client with temporary credentials (from AssumeRole), cached per access key."""
        key = (service, region, credentials["AccessKeyId"])
        return self._cached(key, lambda: self.session.create_client(
            service,
            region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
            config=self.config,
        ))

    def forget(self, access_key_id: str) -> None:
        """Drop the clients made with credentials that are no longer used."""
        with self._lock:
            for key in [k for k in self._clients if k[2] == access_key_id]:
                del self._clients[key]

    def _cached(self, key: tuple[str, str | None, str | None], make: Any) -> Any:
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = make()
                    self._clients[key] = client
        return client
