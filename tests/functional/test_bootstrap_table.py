"""A hub deployed with the bootstrap table (no application, no team) refuses every sign-in cleanly."""

from __future__ import annotations

import dataclasses
from types import MappingProxyType

from broker import handler
from broker.wiring import BrokerSettings, build_login_service

from .conftest import TABLE, Landscape, headers_of


def test_a_sign_in_to_a_hub_with_no_teams_is_refused_and_creates_nothing(landscape: Landscape) -> None:
    empty = dataclasses.replace(landscape.routing, applications=MappingProxyType({}),
                                teams=MappingProxyType({}))
    service = build_login_service(
        empty, BrokerSettings(table_name=TABLE, table_region="us-east-1"), landscape.clients)
    handler.use_login_service(service)

    response = landscape.sign_in("user1", "team1")  # signed by a real application's key

    assert response["statusCode"] == 401
    assert "could not be verified" in response["body"] and "Reference:" in response["body"]
    assert "Location" not in headers_of(response)
    assert sum(landscape.calls.values()) == 0  # not even the replay write
    assert landscape.replay_items() == 0 and landscape.all_profiles() == []
