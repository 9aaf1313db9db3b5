"""Response hardening and the optional per-team source-IP allowlist.

- RelayState is accepted only in the allowlisted Studio-landing form, never followed;
- a team with ``allowed_source_cidrs`` takes sign-ins only from API Gateway's
  source IP inside them (never from X-Forwarded-For), checked after the signature;
- every response path carries the security headers, and every echoed value is escaped.
"""

from __future__ import annotations

import dataclasses
import time
import urllib.parse
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from broker import handler, routing
from broker.config import RoutingTable
from broker.emulator import settings as emulator_settings
from broker.exceptions import ConfigurationError, SpokeFailure
from broker.local.idp import encode
from broker.ops import routing_source
from tests.adversarial.conftest import assert_refused, assert_security_headers, with_routing
from tests.functional.conftest import (
    ACS_URL,
    ENTITY_ID,
    LambdaContext,
    Landscape,
    acs_event,
    get_event,
)

ALLOWED_V4, ALLOWED_V6 = "203.0.113.0/24", "2001:db8::/32"
FIXTURE = Path(__file__).parent.parent / "fixtures" / "routing" / "valid.yaml"


def signed(land: Landscape, user: str, team: str = "team1", **overrides: Any) -> str:
    return encode(land.idps[team].build_response(
        user_id=user, team_id=team, audience=ENTITY_ID, acs_url=ACS_URL, **overrides))


def form(saml_response: str, **fields: str) -> str:
    return urllib.parse.urlencode({"SAMLResponse": saml_response, **fields})


def event_from(body: str, source_ip: str | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = acs_event(body)
    if source_ip is None:
        del event["requestContext"]["identity"]["sourceIp"]
    else:
        event["requestContext"]["identity"]["sourceIp"] = source_ip
    if headers:
        event["headers"].update(headers)
        event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    return event


def edited_team(land: Landscape, team_id: str, **changes: Any) -> RoutingTable:
    teams = dict(land.routing.teams)
    teams[team_id] = dataclasses.replace(teams[team_id], **changes)
    return dataclasses.replace(land.routing, teams=MappingProxyType(teams))


# --- RelayState ---------------------------------------------------------------------------------

@pytest.mark.parametrize("relay_state", [
    pytest.param("https://evil.example.net/phish", id="absolute-url"),
    pytest.param("//evil.example.net", id="scheme-relative-url"),
    pytest.param("/saml/continue", id="absolute-path"),
    pytest.param("javascript:alert(1)", id="javascript-url"),
    pytest.param("studio::../../admin", id="dot-dot-segment"),
    pytest.param("studio::lab?next=https://evil.example.net", id="query"),
    pytest.param("studio::lab#x", id="fragment"),
    pytest.param("studio::lab\r\nLocation: https://evil", id="header-injection"),
    pytest.param("studio::<script>", id="markup"),
    pytest.param("app:Evil:lab", id="unknown-app"),
    pytest.param("studio::" + "a" * 300, id="too-long"),
])
def test_relay_state_outside_the_allowlist_is_refused_and_consumes_nothing(
    hub: Landscape, broker_log: pytest.LogCaptureFixture, relay_state: str,
) -> None:
    saml_response = signed(hub, "relay-user")
    response = hub.invoke(acs_event(form(saml_response, RelayState=relay_state)))
    assert_refused(hub, response, broker_log, status=400, reason="relay_state_not_allowed",
                   text="malformed", posted=saml_response, profiles_before=len(hub.all_profiles()))
    assert hub.replay_items() == 0
    assert "<script>" not in response["body"] and "evil" not in response["body"]


def test_repeated_relay_state_is_refused(hub: Landscape, broker_log: pytest.LogCaptureFixture) -> None:
    body = urllib.parse.urlencode([("SAMLResponse", signed(hub, "relay-user")),
                                   ("RelayState", "studio::"), ("RelayState", "studio::lab")])
    assert_refused(hub, hub.invoke(acs_event(body)), broker_log, status=400,
                   reason="relay_state_not_allowed", text="malformed")


# --- source-IP allowlist ------------------------------------------------------------------------

@pytest.fixture
def fenced(hub: Landscape) -> Landscape:
    """team1 may sign in only from 203.0.113.0/24 and 2001:db8::/32."""
    routing = edited_team(hub, "team1", allowed_source_cidrs=(ALLOWED_V4, ALLOWED_V6))
    handler.use_login_service(with_routing(hub, routing))
    return hub


@pytest.mark.parametrize(("source_ip", "headers"), [
    pytest.param("198.51.100.7", None, id="outside"),
    pytest.param("198.51.100.7", {"X-Forwarded-For": "203.0.113.9"}, id="spoofed-x-forwarded-for"),
    pytest.param("198.51.100.7", {"X-Real-IP": "203.0.113.9", "Forwarded": "for=203.0.113.9"},
                 id="spoofed-forwarded"),
    pytest.param(None, {"X-Forwarded-For": "203.0.113.9"}, id="source-ip-missing"),
    pytest.param("203.0.114.1", None, id="neighbour-network"),
    pytest.param("2001:db9::1", None, id="ipv6-outside"),
    pytest.param("::ffff:203.0.113.9", None, id="ipv4-mapped-ipv6"),
    pytest.param("not-an-ip", None, id="garbage"),
])
def test_sign_in_from_outside_the_team_networks_is_refused(
    fenced: Landscape, broker_log: pytest.LogCaptureFixture, source_ip: str | None,
    headers: dict[str, str] | None,
) -> None:
    saml_response = signed(fenced, "fenced-out")
    profiles = len(fenced.all_profiles())
    response = fenced.invoke(event_from(form(saml_response), source_ip, headers))
    assert_refused(fenced, response, broker_log, status=403, reason="source_ip_not_allowed",
                   text="organisation", posted=saml_response, profiles_before=profiles)
    assert fenced.replay_items() == 0  # refused before the assertion is consumed


@pytest.mark.parametrize(("user", "source_ip"), [
    pytest.param("fenced-v4", "203.0.113.9", id="ipv4"),
    pytest.param("fenced-v6", "2001:db8::1", id="ipv6"),
])
def test_sign_in_from_inside_the_team_networks_lands(fenced: Landscape, user: str, source_ip: str) -> None:
    response = fenced.invoke(event_from(form(signed(fenced, user)), source_ip))
    assert response["statusCode"] == 302, response["body"][:200]
    assert_security_headers(response)


def test_teams_without_an_allowlist_take_any_source(fenced: Landscape) -> None:
    response = fenced.invoke(event_from(form(signed(fenced, "open-team", team="team2")), "198.51.100.7"))
    assert response["statusCode"] == 302


def test_the_allowlist_is_judged_only_after_the_signature(
    fenced: Landscape, broker_log: pytest.LogCaptureFixture,
) -> None:
    """An unverified request learns nothing about the allowlist: it is a 401, not a 403."""
    forged = signed(fenced, "fenced-out", sign="none")
    response = fenced.invoke(event_from(form(forged), "198.51.100.7"))
    assert_refused(fenced, response, broker_log, status=401, reason="unsigned",
                   text="could not be verified", profiles_before=len(fenced.all_profiles()))


def test_resume_from_outside_the_team_networks_is_refused(fenced: Landscape) -> None:
    emulator_settings.configure(profile_delay_seconds=5)
    service = handler.login_service()
    service.profiles.wait_seconds = 0.05
    held = fenced.invoke(event_from(form(signed(fenced, "fenced-hold")), "203.0.113.9"))
    assert held["statusCode"] == 202
    assert_security_headers(held)
    cookie = held["multiValueHeaders"]["Set-Cookie"][0].split(";", 1)[0]

    resumed = get_event("/saml/continue", cookie=cookie)
    resumed["requestContext"]["identity"]["sourceIp"] = "198.51.100.7"
    refused = fenced.invoke(resumed)
    assert refused["statusCode"] == 403
    assert "organisation" in refused["body"]
    assert_security_headers(refused)


def _routing_text(extra: str) -> str:
    return FIXTURE.read_text() + extra


def test_routing_yaml_carries_the_allowlist_into_the_team() -> None:
    table = routing_source.parse_routing_table(
        _routing_text(f'    allowed_source_cidrs: ["{ALLOWED_V4}", "{ALLOWED_V6}"]\n'), "routing.yaml")
    assert table.teams["team-3"].allowed_source_cidrs == (ALLOWED_V4, ALLOWED_V6)
    assert table.teams["team1"].allowed_source_cidrs == ()


@pytest.mark.parametrize(("cidrs", "message"), [
    pytest.param('["10.0.0.1/8"]', "has host bits set", id="host-bits"),
    pytest.param('["10.0.0.0/33"]', "not a network in CIDR form", id="prefix-too-long"),
    pytest.param('["10.0.0.0"]', "does not match", id="no-prefix"),
    pytest.param('["10.0.0.0/8", "10.0.0.0/8"]', "has duplicate entries", id="duplicate"),
])
def test_routing_yaml_refuses_a_bad_allowlist(cidrs: str, message: str) -> None:
    lines = FIXTURE.read_text().count("\n")
    with pytest.raises(ConfigurationError) as caught:
        routing_source.parse_routing_table(
            _routing_text(f"    allowed_source_cidrs: {cidrs}\n"), "routing.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith(f"routing.yaml:{lines + 1}:")
    assert "allowed_source_cidrs" in problem and message in problem


# --- security headers on every path, escaping of every echoed value ------------------------------

def test_every_error_status_carries_the_security_headers(
    hub: Landscape, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 5xx paths: a spoke failure, a disabled team, an unforeseen exception."""
    service = hub.service
    monkeypatch.setattr(service.profiles, "ensure", _raise(SpokeFailure("spoke_boom")))
    spoke = hub.post_acs(signed(hub, "fail-502"))
    monkeypatch.setattr(service.profiles, "ensure", _raise(RuntimeError("boom <secret> token=abc")))
    crash = hub.post_acs(signed(hub, "fail-500"))
    handler.use_login_service(with_routing(hub, edited_team(hub, "team1", enabled=False)))
    disabled = hub.post_acs(signed(hub, "fail-503"))

    for response, status in ((spoke, 502), (crash, 500), (disabled, 503)):
        assert response["statusCode"] == status
        assert_security_headers(response)
        assert "Reference:" in response["body"]
        for leak in ("boom", "secret", "token=abc", "Traceback", "RuntimeError"):
            assert leak not in response["body"]


def _raise(error: Exception) -> Any:
    def fail(*_: Any, **__: Any) -> Any:
        raise error

    return fail


@pytest.mark.parametrize(("method", "path", "status"), [
    ("GET", "/saml/metadata", 200),
    ("GET", "/health", 200),
    ("GET", "/saml/acs", 405),
    ("GET", "/saml/continue", 400),
    ("GET", "/nothing/here", 404),
    ("POST", "/saml/metadata", 404),
    ("PUT", "/saml/acs", 404),
    ("DELETE", "/saml/acs", 404),
    ("OPTIONS", "/saml/acs", 404),
])
def test_every_route_carries_the_security_headers(
    hub: Landscape, method: str, path: str, status: int,
) -> None:
    event = get_event(path)
    event["httpMethod"] = method
    response = hub.invoke(event)
    assert response["statusCode"] == status
    assert_security_headers(response)


@pytest.mark.parametrize("path", ["/saml/acs", "/saml/metadata", "/health"])
def test_a_broken_routing_table_is_a_500_page_with_the_headers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path: str,
) -> None:
    broken = tmp_path / "routing.json"
    broken.write_text('{"format": 1, "table": [')
    monkeypatch.setenv(routing.ROUTING_FILE_ENV, str(broken))
    monkeypatch.setenv("BROKER_TABLE_NAME", "studio-broker-state")
    routing.clear_cache()
    handler.use_login_service(None)
    try:
        event = acs_event("SAMLResponse=x") if path == "/saml/acs" else get_event(path)
        response = handler.lambda_handler(event, LambdaContext())
    finally:
        routing.clear_cache()
    assert response["statusCode"] == 500
    assert_security_headers(response)
    assert "routing.yaml" not in response["body"] and "Traceback" not in response["body"]


MARKUP = "<script>alert(1)</script>\"'&"


def test_the_correlation_id_is_escaped(hub: Landscape) -> None:
    event = acs_event("SAMLResponse=x")
    event["requestContext"]["requestId"] = MARKUP
    body = hub.invoke(event)["body"]
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#x27;&amp;" in body


def test_the_disabled_message_is_escaped(hub: Landscape) -> None:
    routing_table = edited_team(hub, "team1", enabled=False, disabled_message=MARKUP)
    handler.use_login_service(with_routing(hub, routing_table))
    response = hub.post_acs(signed(hub, "disabled-user"))
    assert response["statusCode"] == 503
    assert "<script>" not in response["body"] and "&lt;script&gt;" in response["body"]


def test_the_holding_page_escapes_the_continue_url(hub: Landscape) -> None:
    """The continue URL comes from configuration; even so it is never pasted raw into HTML."""
    acs = 'https://broker.example.com/"><script>x</script>/saml/acs'
    sp = dataclasses.replace(hub.routing.service_provider, acs_url=acs)
    handler.use_login_service(with_routing(hub, dataclasses.replace(hub.routing, service_provider=sp)))
    emulator_settings.configure(profile_delay_seconds=5)
    handler.login_service().profiles.wait_seconds = 0.05
    xml = hub.idps["team1"].build_response(user_id="held-user", team_id="team1", audience=ENTITY_ID,
                                           acs_url=acs, now=time.time())
    response = hub.post_acs(encode(xml))
    assert response["statusCode"] == 202
    assert_security_headers(response)
    # The page's own script is allowed by its hash; the configured text stays text.
    assert "<script>x</script>" not in response["body"] and "&lt;script&gt;x" in response["body"]
