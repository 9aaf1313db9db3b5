"""The seed scenario and the main refusals, through the real handler and the emulator."""

from __future__ import annotations

import json
import urllib.parse

import pytest

from tests.functional.conftest import (
    ACS_URL,
    ENTITY_ID,
    EXTERNAL_ID,
    SPOKES,
    Landscape,
    acs_event,
    get_event,
    headers_of,
)

TEAM1, TEAM2 = SPOKES


def _studio_query(location: str) -> dict[str, list[str]]:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)


def assert_refused(landscape: Landscape, response: dict, status: int, text: str) -> None:
    """A refusal: the status, a page with the message and a reference, and nothing made anywhere."""
    assert response["statusCode"] == status
    body = response["body"]
    assert text in body
    assert "Reference:" in body and "Traceback" not in body
    assert "Location" not in headers_of(response)
    assert landscape.calls["AssumeRole"] == 0
    assert landscape.calls["CreateUserProfile"] == 0
    assert landscape.calls["CreatePresignedDomainUrl"] == 0
    assert landscape.all_profiles() == []


def test_seed_scenario_lands_each_person_in_their_own_profile(landscape: Landscape) -> None:
    landings = {
        (user, spoke.team_id): landscape.sign_in(user, spoke.team_id)
        for user, spoke in (("user1", TEAM1), ("user1", TEAM2), ("user2", TEAM2))
    }
    for (_user, team_id), response in landings.items():
        assert response["statusCode"] == 302, response["body"]
        headers = headers_of(response)
        assert headers["Cache-Control"] == "no-store"
        assert headers["Referrer-Policy"] == "no-referrer"
        location = headers["Location"]
        assert location.startswith(f"https://{landscape.domain_ids[team_id]}.studio.")
        assert "token=" in location

    team1_profiles = landscape.profiles(TEAM1)
    team2_profiles = landscape.profiles(TEAM2)
    assert [p["UserProfileName"] for p in team1_profiles] == ["team1--user1"]
    assert sorted(p["UserProfileName"] for p in team2_profiles) == ["team2--user1", "team2--user2"]
    for spoke, profiles in ((TEAM1, team1_profiles), (TEAM2, team2_profiles)):
        for profile in profiles:
            assert profile["Status"] == "InService"
            assert profile["UserSettings"]["ExecutionRole"] == spoke.execution_role
            assert f":{spoke.account_id}:" in profile["UserProfileArn"]
            tags = {t["Key"]: t["Value"] for t in landscape.spoke_client(spoke).list_tags(
                ResourceArn=profile["UserProfileArn"])["Tags"]}
            assert tags["Team"] == spoke.team_id
            assert tags["User"] == profile["UserProfileName"].split("--", 1)[1]
            assert tags["CostCenter"] == "4711"


def test_assume_role_carries_external_id_source_identity_and_tags(landscape: Landscape) -> None:
    assert landscape.sign_in("user1", "team1")["statusCode"] == 302
    (params,) = [p for op, p in landscape.call_params if op == "AssumeRole"]
    assert params["RoleArn"] == f"arn:aws:iam::{TEAM1.account_id}:role/StudioBrokerAccess"
    assert params["ExternalId"] == EXTERNAL_ID
    assert params["SourceIdentity"] == "user1"
    assert {t["Key"]: t["Value"] for t in params["Tags"]} == {
        "User": "user1", "Team": "team1", "Profile": "team1--user1"}


def test_warm_login_makes_only_replay_write_and_presign(landscape: Landscape) -> None:
    assert landscape.sign_in("user1", "team1")["statusCode"] == 302
    landscape.calls.clear()
    assert landscape.sign_in("user1", "team1")["statusCode"] == 302
    assert dict(landscape.calls) == {"PutItem": 1, "CreatePresignedDomainUrl": 1}


def test_replayed_response_is_refused_and_creates_nothing_more(landscape: Landscape) -> None:
    response = landscape.saml_response("user1", "team1")
    assert landscape.post_acs(response)["statusCode"] == 302
    landscape.calls.clear()
    replayed = landscape.post_acs(response)
    assert replayed["statusCode"] == 401
    assert "already used" in replayed["body"]
    assert landscape.calls["AssumeRole"] == 0 and landscape.calls["CreatePresignedDomainUrl"] == 0
    assert len(landscape.all_profiles()) == 1


def test_application_cannot_route_to_a_team_it_is_not_bound_to(landscape: Landscape) -> None:
    # team1's application (correctly signed by its own key) asks for team2
    response = landscape.post_acs(landscape.saml_response("user2", "team2", app="team1"))
    assert_refused(landscape, response, 403, "You do not have access to this team")
    assert landscape.replay_items() == 0


def test_response_signed_by_another_application_key_is_refused(landscape: Landscape) -> None:
    forged = landscape.idps["team2"].build_response(
        user_id="user1", team_id="team1", audience=ENTITY_ID, acs_url=ACS_URL,
        issuer=landscape.idps["team1"].issuer, response_issuer=landscape.idps["team1"].issuer)
    response = landscape.post_acs(landscape.idps["team2"].encode(forged))
    assert_refused(landscape, response, 401, "could not be verified")
    assert landscape.replay_items() == 0


@pytest.mark.parametrize(
    ("body", "status", "text"),
    [
        ("SAMLResponse=%%%not-base64", 400, "malformed"),
        ("SAMLResponse=" + urllib.parse.quote("PHhtbD4="), 400, "malformed"),
        ("", 400, "malformed"),
        ("RelayState=x", 400, "malformed"),
        ("SAMLResponse=a&SAMLResponse=b", 400, "malformed"),
    ],
)
def test_garbage_bodies_are_answered_400(landscape: Landscape, body: str, status: int, text: str) -> None:
    response = landscape.invoke(acs_event(body))
    assert_refused(landscape, response, status, text)


def test_oversized_body_is_refused_before_parsing(landscape: Landscape) -> None:
    response = landscape.post_acs("A" * (landscape.routing.service_provider.max_body_bytes + 10))
    assert_refused(landscape, response, 413, "malformed")


def test_wrong_content_type_is_refused(landscape: Landscape) -> None:
    body = urllib.parse.urlencode({"SAMLResponse": landscape.saml_response("user1", "team1")})
    event = acs_event(body)
    event["headers"]["Content-Type"] = "application/json"
    event["multiValueHeaders"]["Content-Type"] = ["application/json"]
    assert_refused(landscape, landscape.invoke(event), 400, "malformed")


def test_get_on_the_acs_is_refused(landscape: Landscape) -> None:
    assert_refused(landscape, landscape.invoke(get_event("/saml/acs")), 405, "malformed")


def test_base64_encoded_api_gateway_body_is_accepted(landscape: Landscape) -> None:
    import base64

    body = urllib.parse.urlencode({"SAMLResponse": landscape.saml_response("user1", "team1")})
    response = landscape.invoke(acs_event(base64.b64encode(body.encode()).decode(), isBase64Encoded=True))
    assert response["statusCode"] == 302


def test_host_header_does_not_change_the_checked_url(landscape: Landscape) -> None:
    # An attacker-controlled Host must not make a response for another ACS acceptable.
    evil_acs = "https://evil.example.net/prod/saml/acs"
    idp = landscape.idps["team1"]
    xml = idp.build_response(user_id="user1", team_id="team1", audience=ENTITY_ID, acs_url=evil_acs)
    event_headers = {"Host": "evil.example.net", "Content-Type": "application/x-www-form-urlencoded"}
    response = landscape.invoke(acs_event(
        urllib.parse.urlencode({"SAMLResponse": idp.encode(xml)}), headers=event_headers,
        multiValueHeaders={k: [v] for k, v in event_headers.items()}))
    assert_refused(landscape, response, 401, "could not be verified")


def test_every_page_carries_security_headers_and_a_reference(landscape: Landscape) -> None:
    response = landscape.post_acs("garbage")
    headers = headers_of(response)
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Strict-Transport-Security"].startswith("max-age=")
    assert "c6af9ac6-7b61-11e6-9a41-93e8deadbeef" in response["body"]


def test_metadata_and_health(landscape: Landscape) -> None:
    metadata = landscape.invoke(get_event("/saml/metadata"))
    assert metadata["statusCode"] == 200
    assert f'entityID="{ENTITY_ID}"' in metadata["body"] and f'Location="{ACS_URL}"' in metadata["body"]
    health = landscape.invoke(get_event("/health"))
    assert health["statusCode"] == 200 and '"teams":2' in health["body"]
    assert landscape.invoke(get_event("/nothing"))["statusCode"] == 404


def test_saml_response_and_credentials_never_reach_the_log(
    landscape: Landscape, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    saml_response = landscape.saml_response("user1", "team1")
    assert landscape.post_acs(saml_response)["statusCode"] == 302
    assert landscape.post_acs(saml_response)["statusCode"] == 401  # the refusal path logs too
    logged = capsys.readouterr().out + caplog.text
    assert "sign-in refused" in logged  # the log was captured at all
    assert saml_response[:40] not in logged
    assert "SecretAccessKey" not in logged and "SessionToken" not in logged


def test_user_ids_with_characters_tags_cannot_hold_get_a_legal_tag(landscape: Landscape) -> None:
    user = "o'brien<script>@example.com"
    assert landscape.sign_in(user, "team1")["statusCode"] == 302
    (profile,) = landscape.profiles(TEAM1)
    tags = {t["Key"]: t["Value"] for t in landscape.spoke_client(TEAM1).list_tags(
        ResourceArn=profile["UserProfileArn"])["Tags"]}
    (params,) = [p for op, p in landscape.call_params if op == "AssumeRole"]
    session_user = {t["Key"]: t["Value"] for t in params["Tags"]}["User"]
    assert tags["User"] == session_user != user
    assert "<" not in tags["User"] and "'" not in tags["User"]


def _refusal_records(caplog: pytest.LogCaptureFixture) -> list:
    return [r for r in caplog.records if r.getMessage() == "sign-in refused"]


def test_refusal_after_verification_names_application_user_and_team_in_the_log(
    landscape: Landscape, caplog: pytest.LogCaptureFixture
) -> None:
    saml_response = landscape.saml_response("user1", "team1")
    assert landscape.post_acs(saml_response)["statusCode"] == 302
    caplog.clear()
    replayed = landscape.post_acs(saml_response)
    assert replayed["statusCode"] == 401
    (record,) = _refusal_records(caplog)
    assert record.reason == "replay"
    assert (record.application, record.team, record.user) == ("studio-team1", "team1", "user1")
    assert "user1" not in replayed["body"]  # the page stays generic


def test_unverified_refusal_names_nobody(landscape: Landscape, caplog: pytest.LogCaptureFixture) -> None:
    assert landscape.post_acs("garbage")["statusCode"] == 400
    (record,) = _refusal_records(caplog)
    assert not hasattr(record, "user") and not hasattr(record, "application")


def test_a_signed_team_outside_the_table_is_no_metric_dimension(
        landscape: Landscape, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    response = landscape.sign_in("user1", "team-x-9f2c", app="team1")  # signed by team1's application
    assert response["statusCode"] == 403
    blobs = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    [login] = [b for b in blobs if "Login" in b]
    # Free text signed by an application must not mint a CloudWatch metric per value.
    assert (login["Team"], login["Outcome"]) == ("unrouted", "team_not_bound_to_application")
