"""Genuine responses at the edges: replay (also across two broker instances), comment
injection into the person's id, times inside the allowed skew, and accepted RelayState.

These land people, so this module has its own landscape; each test uses its own user.
"""

from __future__ import annotations

import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from broker import handler
from broker.exceptions import ReplayDetected
from broker.local.idp import encode
from broker.login import LoginService
from broker.profile_name import profile_name_for
from broker.spokes import source_identity, tag_value
from tests.adversarial import forge
from tests.adversarial.conftest import assert_refused, assert_security_headers, with_routing
from tests.functional.conftest import ACS_URL, ENTITY_ID, SPOKES, Landscape, acs_event, headers_of

TEAM1, _ = SPOKES
SKEW = 60


def signed(land: Landscape, user: str, **overrides: Any) -> str:
    """The base64 SAMLResponse team1's application signs for ``user``."""
    overrides.setdefault("audience", ENTITY_ID)
    return encode(land.idps["team1"].build_response(
        user_id=user, team_id="team1", acs_url=ACS_URL, **overrides))


def assert_landed(land: Landscape, response: dict[str, Any], user: str) -> None:
    assert response["statusCode"] == 302, response["body"][:300]
    assert_security_headers(response)
    assert headers_of(response)["Location"].startswith(f"https://{land.domain_ids['team1']}.studio.")
    names = {p["UserProfileName"] for p in land.profiles(TEAM1)}
    assert profile_name_for(user, "team1") in names


def test_replayed_response_is_refused(hub: Landscape, broker_log: pytest.LogCaptureFixture) -> None:
    saml_response = signed(hub, "replay-one")
    assert_landed(hub, hub.post_acs(saml_response), "replay-one")
    profiles = len(hub.all_profiles())
    hub.calls.clear()
    broker_log.clear()

    replayed = hub.post_acs(saml_response)
    assert_refused(hub, replayed, broker_log, status=401, reason="replay", text="already used",
                   posted=saml_response, profiles_before=profiles)


def test_replay_through_a_second_broker_instance_sharing_the_table_is_refused(
    hub: Landscape, broker_log: pytest.LogCaptureFixture,
) -> None:
    """Two containers: each has its own caches and clients, only the DynamoDB table is shared."""
    saml_response = signed(hub, "replay-two")
    assert_landed(hub, hub.post_acs(saml_response), "replay-two")
    profiles = len(hub.all_profiles())
    second = with_routing(hub, hub.routing)
    hub.calls.clear()
    broker_log.clear()

    handler.use_login_service(second)
    replayed = hub.post_acs(saml_response)
    assert_refused(hub, replayed, broker_log, status=401, reason="replay", text="already used",
                   posted=saml_response, profiles_before=profiles)


def test_a_response_raced_into_two_instances_lands_once(hub: Landscape) -> None:
    saml_response = signed(hub, "replay-race")
    services: list[LoginService] = [hub.service, with_routing(hub, hub.routing)]

    def attempt(service: LoginService) -> str:
        try:
            return type(service.sign_in(saml_response)).__name__
        except ReplayDetected:
            return "ReplayDetected"

    with ThreadPoolExecutor(2) as pool:
        outcomes = sorted(pool.map(attempt, services))
    assert outcomes == ["Landed", "ReplayDetected"]
    assert hub.calls["CreatePresignedDomainUrl"] == 1


@pytest.mark.parametrize(("signed_user", "cut"), [
    pytest.param("alice.attacker@example.com", len("alice"), id="prefix-reads-as-victim"),
    pytest.param("attacker.alice", len("attacker."), id="suffix-reads-as-victim"),
])
def test_comment_injected_into_user_id_and_name_id_lands_as_the_whole_signed_text(
    hub: Landscape, signed_user: str, cut: int,
) -> None:
    """CVE-2017-11427: the attacker owns ``signed_user`` at the IdP and splits it with a comment
    after signing; a reader of the first (or last) text node would sign them in as "alice"."""
    xml = hub.idps["team1"].build_response(user_id=signed_user, team_id="team1", audience=ENTITY_ID,
                                           acs_url=ACS_URL)
    forged = forge.comment_split(xml, "userid", signed_user, cut)
    root = forge.tree(forged)
    name_id = root.find(".//{urn:oasis:names:tc:SAML:2.0:assertion}NameID")
    comment = forge.etree.Comment("")
    comment.tail = signed_user[cut:]
    name_id.text = signed_user[:cut]
    name_id.append(comment)
    forged = forge.text(root)
    assert "<!---->" in forged

    assert_landed(hub, hub.post_acs(encode(forged)), signed_user)
    (params,) = [p for op, p in hub.call_params if op == "AssumeRole"]
    assert params["SourceIdentity"] == source_identity(signed_user)
    names = {p["UserProfileName"] for p in hub.profiles(TEAM1)}
    assert profile_name_for("alice", "team1") not in names


@pytest.mark.parametrize("signed_user", [
    pytest.param("alice smith", id="inner-space"),
    pytest.param("alice\u00a0smith", id="inner-nbsp"),
    pytest.param("\u0430lice", id="cyrillic-a-homoglyph"),
    pytest.param("Alice", id="other-case"),
])
def test_an_id_that_resembles_another_lands_in_its_own_profile(
    hub: Landscape, broker_log: pytest.LogCaptureFixture, signed_user: str,
) -> None:
    """Distinct signed text, distinct person: its own profile name, session name and User tag."""
    victim = "alice"
    assert_landed(hub, hub.post_acs(signed(hub, signed_user)), signed_user)
    (params,) = [p for op, p in hub.call_params if op == "AssumeRole"]
    tags = {tag["Key"]: tag["Value"] for tag in params["Tags"]}
    assert params["SourceIdentity"] == source_identity(signed_user) != source_identity(victim)
    assert tags["User"] == tag_value(signed_user) != tag_value(victim)
    assert tags["Profile"] == profile_name_for(signed_user, "team1") != profile_name_for(victim, "team1")
    assert profile_name_for(victim, "team1") not in {p["UserProfileName"] for p in hub.profiles(TEAM1)}


def test_the_name_id_is_never_the_person(
    hub: Landscape, broker_log: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    """NameID is a separate Identity Center mapping: a different value lands as the userid,
    and appears in no spoke call, no log line, no metric and no page."""
    name_id = "nameid-victim@example.com"
    response = hub.post_acs(signed(hub, "nameid-owner", name_id=name_id))
    assert_landed(hub, response, "nameid-owner")
    assert name_id not in repr(hub.call_params)
    assert name_id not in repr(response)
    assert not any(name_id in repr(record.__dict__) for record in broker_log.records)
    assert name_id not in capsys.readouterr().out  # the log and metric lines as the Lambda writes them


@pytest.mark.parametrize(("user", "overrides"), [
    pytest.param("skew-expired", lambda now: {"not_on_or_after": now - SKEW // 2,
                                              "subject_not_on_or_after": now + 200},
                 id="conditions-expired-within-skew"),
    pytest.param("skew-early", lambda now: {"not_before": now + SKEW // 2}, id="not-yet-valid-within-skew"),
    pytest.param("skew-ahead", lambda now: {"now": now + SKEW // 2}, id="idp-clock-ahead-within-skew"),
    pytest.param("skew-old", lambda now: {"issue_instant": now - 300 - SKEW // 2,
                                          "assertion_issue_instant": now - 300 - SKEW // 2},
                 id="issue-instant-at-max-age-within-skew"),
])
def test_times_inside_the_allowed_skew_are_accepted(hub: Landscape, user: str, overrides: Any) -> None:
    assert_landed(hub, hub.post_acs(signed(hub, user, **overrides(time.time()))), user)


@pytest.mark.parametrize(("user", "relay_state"), [
    pytest.param("relay-a", "studio::", id="studio-root"),
    pytest.param("relay-b", "studio::lab", id="studio-path"),
    pytest.param("relay-c", "app:JupyterLab:lab/tree/README.md", id="app-path"),
    pytest.param("relay-d", "app:CodeEditor:", id="app-root"),
])
def test_relay_state_in_the_allowlisted_form_is_accepted_and_never_followed(
    hub: Landscape, user: str, relay_state: str,
) -> None:
    body = urllib.parse.urlencode({"SAMLResponse": signed(hub, user), "RelayState": relay_state})
    response = hub.invoke(acs_event(body))
    assert_landed(hub, response, user)
    assert relay_state not in urllib.parse.unquote(headers_of(response)["Location"])
