"""Builds the login service from configuration: once per container.

The handler, the local stack and the benchmark all wire the broker here, so
they run the same objects the Lambda runs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from broker.aws import AwsClients
from broker.config import RoutingTable
from broker.continuation import ContinuationStore
from broker.login import LoginService
from broker.membership import MembershipResolver
from broker.profiles import ProfileService
from broker.replay import ReplayCache
from broker.saml import SamlValidator
from broker.spokes import SpokeSessions

# How long a team picker's choices can be used: a person reads the page first.
PICKER_SECONDS = 300


@dataclass(frozen=True)
class BrokerSettings:
    """Runtime settings that come from the environment, not from routing.yaml."""

    table_name: str
    table_region: str | None = None
    profile_wait_seconds: float = 8.0

    @classmethod
    def from_env(cls) -> BrokerSettings:
        """Read ``BROKER_TABLE_NAME`` (required), ``BROKER_TABLE_REGION``, ``BROKER_PROFILE_WAIT_SECONDS``."""
        table = os.environ.get("BROKER_TABLE_NAME")
        if not table:
            raise RuntimeError("BROKER_TABLE_NAME is not set")
        return cls(
            table_name=table,
            table_region=os.environ.get("BROKER_TABLE_REGION") or None,
            profile_wait_seconds=float(os.environ.get("BROKER_PROFILE_WAIT_SECONDS", "8")),
        )


def build_login_service(
    routing: RoutingTable, settings: BrokerSettings, clients: AwsClients | None = None
) -> LoginService:
    """Wire every collaborator of one sign-in around shared, cached AWS clients."""
    clients = clients or AwsClients()
    # Membership only where the table names an Identity Store; one resolver (and cache) per container.
    memberships = (MembershipResolver(clients, routing.identity_store)
                   if routing.identity_store is not None else None)
    return LoginService(
        routing,
        SamlValidator(routing),
        ReplayCache(clients, settings.table_name, settings.table_region),
        ProfileService(SpokeSessions(clients), wait_seconds=settings.profile_wait_seconds),
        ContinuationStore(clients, settings.table_name, settings.table_region),
        memberships=memberships,
        pickers=ContinuationStore(clients, settings.table_name, settings.table_region,
                                  ttl_seconds=PICKER_SECONDS),
    )
