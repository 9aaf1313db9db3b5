"""One application for every team: sign-ins routed by Identity Store membership, and the picker.

The seed landscape's two teams get a group each in the emulated Identity Store,
and a third IdP application (``teams_from: membership``) joins the two per-team
ones: ``both`` is in team1's and team2's groups, ``one`` in team2's, ``none``
exists in no group. The real handler answers every request.
"""

from __future__ import annotations

import dataclasses
import re
import time
from html import unescape
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from broker import handler
from broker.aws import AwsClients
from broker.config import IdentityStoreRef, IdpApplication
from broker.emulator import settings as emulator_settings
from broker.local.idp import SamlIdentityProvider
from broker.wiring import BrokerSettings, build_login_service
from tests.functional.conftest import SPOKES, TABLE, Landscape, get_event, headers_of

STORE = "d-1234567890"
READER = "arn:aws:iam::999999999999:role/StudioBrokerIdentityStoreReader"
STUDIO_ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/STUDIOAPP"
PEOPLE = {"both": ("team1", "team2"), "one": ("team2",), "none": ()}
CHOOSE = "/saml/choose"


@pytest.fixture(scope="session")
def studio_idp() -> SamlIdentityProvider:
    """The one "SageMaker Studio" application (keys made once per session)."""
    return SamlIdentityProvider.generate(STUDIO_ISSUER)


@dataclasses.dataclass
class Store:
    """The emulated Identity Store: UserIds and GroupIds, and an admin client to change it."""

    admin: Any
    users: dict[str, str]
    groups: dict[str, str]

    def remove(self, person: str, team_id: str) -> None:
        """Take ``person`` out of ``team_id``'s group."""
        membership = self.admin.get_group_membership_id(
            IdentityStoreId=STORE, GroupId=self.groups[team_id], MemberId={"UserId": self.users[person]})
        self.admin.delete_group_membership(IdentityStoreId=STORE, MembershipId=membership["MembershipId"])


def _store_admin() -> Any:
    issued = boto3.client("sts", region_name="us-east-1").assume_role(
        RoleArn=READER, RoleSessionName="test-admin")["Credentials"]
    return boto3.client("identitystore", region_name="us-east-1", aws_access_key_id=issued["AccessKeyId"],
                        aws_secret_access_key=issued["SecretAccessKey"],
                        aws_session_token=issued["SessionToken"])


def _use_table(landscape: Landscape, studio_idp: SamlIdentityProvider, clients: AwsClients) -> None:
    """Add the membership application and the Identity Store to the landscape's table; rewire."""
    routing = landscape.routing
    teams = {tid: dataclasses.replace(team, groups=(f"studio-{tid}",)) for tid, team in routing.teams.items()}
    applications = {**routing.applications, STUDIO_ISSUER: IdpApplication(
        name="sagemaker-studio", issuer=STUDIO_ISSUER, certificates=(studio_idp.cert_pem,),
        teams=frozenset(), by_membership=True)}
    landscape.routing = dataclasses.replace(
        routing, teams=MappingProxyType(teams), applications=MappingProxyType(applications),
        identity_store=IdentityStoreRef(STORE, "us-east-1", READER, "ids-test", "userName"))
    landscape.service = build_login_service(
        landscape.routing, BrokerSettings(table_name=TABLE, table_region="us-east-1",
                                          profile_wait_seconds=2.0), clients)
    landscape.service.profiles.poll_seconds = 0.05
    landscape.idps["studio"] = studio_idp
    handler.use_login_service(landscape.service)


@pytest.fixture
def store(landscape: Landscape, studio_idp: SamlIdentityProvider) -> Store:
    admin = _store_admin()
    groups = {s.team_id: admin.create_group(
        IdentityStoreId=STORE, DisplayName=f"studio-{s.team_id}")["GroupId"] for s in SPOKES}
    users = {}
    for person, teams in PEOPLE.items():
        users[person] = admin.create_user(
            IdentityStoreId=STORE, UserName=person, DisplayName=person,
            Name={"GivenName": person, "FamilyName": "Test"})["UserId"]
        for team_id in teams:
            admin.create_group_membership(IdentityStoreId=STORE, GroupId=groups[team_id],
                                          MemberId={"UserId": users[person]})
    _use_table(landscape, studio_idp, landscape.clients)
    return Store(admin, users, groups)


def studio_sign_in(landscape: Landscape, person: str) -> dict[str, Any]:
    """POST a SAMLResponse of the membership application: no team attribute at all."""
    return landscape.post_acs(landscape.saml_response(person, "", app="studio",
                                                      attributes={"teamid": None}))


def pick_cookie(response: dict[str, Any]) -> str:
    (cookie,) = [c for c in response["multiValueHeaders"]["Set-Cookie"]
                 if c.startswith(f"{handler.PICK_COOKIE}=")]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert "Path=/" in cookie and "Domain" not in cookie  # what __Host- requires
    return cookie.split(";", 1)[0]


def choices(response: dict[str, Any]) -> dict[str, str]:
    """The picker's choices: team display name -> the link's choice value."""
    links = re.findall(r'<a class="team" href="([^"]+)"><strong>([^<]+)</strong>', response["body"])
    return {unescape(name): parse_qs(urlsplit(unescape(href)).query)["choice"][0] for href, name in links}


def choose(landscape: Landscape, choice: str, cookie: str | None, **query: str) -> dict[str, Any]:
    event = get_event(CHOOSE, cookie=cookie)
    event["queryStringParameters"] = {"choice": choice, **query}
    event["multiValueQueryStringParameters"] = {key: [value] for key, value in
                                                event["queryStringParameters"].items()}
    return landscape.invoke(event)


def link_query(response: dict[str, Any], team: str) -> dict[str, str]:
    """The query of the picker's link to ``team``: choice, ref and at."""
    links = re.findall(r'<a class="team" href="([^"]+)"><strong>([^<]+)</strong>', response["body"])
    (href,) = [href for href, name in links if unescape(name) == team]
    return {key: values[0] for key, values in parse_qs(urlsplit(unescape(href)).query).items()}


def created(landscape: Landscape) -> int:
    return landscape.calls["CreateUserProfile"] + len(landscape.all_profiles())


# --- one team, no team ----------------------------------------------------------------------


def test_a_person_in_one_team_lands_in_its_studio_directly(landscape: Landscape, store: Store) -> None:
    response = studio_sign_in(landscape, "one")
    assert response["statusCode"] == 302
    assert "team2studio" in headers_of(response)["Location"]
    (profile,) = landscape.all_profiles()
    assert profile["DomainId"] == landscape.domain_ids["team2"]
    assert landscape.calls["PutItem"] == 1  # the replay write, and no picker
    again = landscape.post_acs(landscape.saml_response("one", "", app="studio", attributes={"teamid": None},
                                                       assertion_id="_replayed"))
    assert again["statusCode"] == 302
    replay = landscape.post_acs(landscape.saml_response("one", "", app="studio", attributes={"teamid": None},
                                                        assertion_id="_replayed"))
    assert replay["statusCode"] == 401  # the same assertion twice: a replay, as for a per-team app


def test_a_person_in_no_team_gets_the_access_denied_page_and_nothing_is_created(
    landscape: Landscape, store: Store
) -> None:
    response = studio_sign_in(landscape, "none")
    assert response["statusCode"] == 403
    assert "not a member of any team" in response["body"]
    assert "https://servicedesk.example.com/studio/access" in response["body"]  # how to request access
    assert created(landscape) == 0
    assert landscape.replay_items() == 0  # a refusal consumes nothing


def test_a_person_not_in_the_store_is_refused_like_one_in_no_team(landscape: Landscape, store: Store) -> None:
    response = studio_sign_in(landscape, "stranger")
    assert response["statusCode"] == 403
    assert created(landscape) == 0 and landscape.replay_items() == 0


def test_per_team_applications_keep_their_strict_binding_beside_it(
    landscape: Landscape, store: Store
) -> None:
    # team1's own application, asserting team2: refused as before, whatever the person's groups
    response = landscape.sign_in("both", "team2", app="team1")
    assert response["statusCode"] == 403
    assert created(landscape) == 0
    assert landscape.sign_in("both", "team1")["statusCode"] == 302  # its own team: as before


# --- several teams: the picker --------------------------------------------------------------


def test_a_person_in_two_teams_gets_a_picker_and_a_choice_lands_in_that_team(
    landscape: Landscape, store: Store
) -> None:
    picker = studio_sign_in(landscape, "both")
    assert picker["statusCode"] == 200
    body = picker["body"]
    assert body.count("<h1>") == 1 and 'lang="en"' in body
    assert "Fraud analytics" in body and "111111111111" in body and "us-east-1" in body
    assert "Churn modelling" in body and "222222222222" in body and "eu-west-1" in body
    assert headers_of(picker)["Content-Security-Policy"].startswith("default-src 'none'")
    assert "SAMLResponse" not in body  # no re-POST: the links carry a choice, not the assertion
    assert created(landscape) == 0  # nothing made before the choice
    cookie = pick_cookie(picker)
    options = choices(picker)
    assert set(options) == {"Fraud analytics", "Churn modelling"}

    landed = choose(landscape, options["Churn modelling"], cookie)
    assert landed["statusCode"] == 302
    assert "team2studio" in headers_of(landed)["Location"]
    cleared = [c for c in landed["multiValueHeaders"]["Set-Cookie"] if c.startswith(handler.PICK_COOKIE)]
    # the token is gone from the cookie; what is left says "used" (a click on Back: not "refused")
    assert cleared and cleared[0].startswith(f"{handler.PICK_COOKIE}={handler.USED};")
    assert pick_cookie(picker).split("=", 1)[1] not in cleared[0]
    again = choose(landscape, options["Churn modelling"], cleared[0].split(";", 1)[0],
                   at=str(int(time.time())))
    assert again["statusCode"] == 400 and "This team choice cannot be used" in again["body"]
    (profile,) = landscape.all_profiles()
    assert profile["DomainId"] == landscape.domain_ids["team2"]


def _disable(landscape: Landscape, *team_ids: str, message: str | None = None) -> None:
    """Turn the kill switch of ``team_ids`` on in the landscape's table; rewire the broker."""
    routing = landscape.routing
    teams = {tid: dataclasses.replace(team, enabled=False, disabled_message=message)
             if tid in team_ids else team for tid, team in routing.teams.items()}
    landscape.routing = dataclasses.replace(routing, teams=MappingProxyType(teams))
    landscape.service = build_login_service(
        landscape.routing, BrokerSettings(table_name=TABLE, table_region="us-east-1",
                                          profile_wait_seconds=2.0), landscape.clients)
    handler.use_login_service(landscape.service)


def test_a_team_under_maintenance_is_listed_on_the_picker_but_cannot_be_chosen(
    landscape: Landscape, store: Store
) -> None:
    _disable(landscape, "team1", message="Moving to a new network until 14:00 UTC.")
    picker = studio_sign_in(landscape, "both")
    assert picker["statusCode"] == 200
    assert set(choices(picker)) == {"Churn modelling"}  # the one link
    body = picker["body"]
    (listed,) = re.findall(r'<div class="team off">(.*?)</div>', body)
    assert "Fraud analytics" in listed and "111111111111" in listed
    assert "Under maintenance: Moving to a new network until 14:00 UTC." in listed
    assert body.count(f"{CHOOSE}?") == 1
    landed = choose(landscape, choices(picker)["Churn modelling"], pick_cookie(picker))
    assert landed["statusCode"] == 302
    assert "team2studio" in headers_of(landed)["Location"]


def test_every_team_under_maintenance_is_the_maintenance_page_and_nothing_is_used(
    landscape: Landscape, store: Store
) -> None:
    _disable(landscape, "team1", "team2")
    saml = landscape.saml_response("both", "", app="studio", attributes={"teamid": None})
    response = landscape.post_acs(saml)
    assert response["statusCode"] == 503
    assert headers_of(response)["Retry-After"] == "600"
    assert "under maintenance" in response["body"] and "every team you are a member of" in response["body"]
    assert handler.PICK_COOKIE not in str(response["multiValueHeaders"].get("Set-Cookie", []))
    assert created(landscape) == 0
    assert landscape.replay_items() == 0  # neither the assertion nor a picker was written


def test_a_choice_whose_profile_is_slow_gets_the_holding_page_and_continues(
    landscape: Landscape, store: Store
) -> None:
    emulator_settings.configure(profile_delay_seconds=1.0)
    landscape.service.profiles.wait_seconds = 0.1
    landscape.service.resume_wait_seconds = 0.1
    picker = studio_sign_in(landscape, "both")
    holding = choose(landscape, choices(picker)["Fraud analytics"], pick_cookie(picker))
    assert holding["statusCode"] == 202 and "Preparing Studio for Fraud analytics" in holding["body"]
    cookies = holding["multiValueHeaders"]["Set-Cookie"]
    (cont,) = [c.split(";", 1)[0] for c in cookies if c.startswith(f"{handler.CONTINUE_COOKIE}=")]
    assert any(c.startswith(f"{handler.PICK_COOKIE}={handler.USED};") for c in cookies)
    time.sleep(1.1)
    landed = landscape.invoke(get_event("/saml/continue", cookie=cont))
    assert landed["statusCode"] == 302
    assert headers_of(landed)["Location"].startswith(f"https://{landscape.domain_ids['team1']}.")


def test_the_assertion_is_consumed_when_the_picker_is_shown(landscape: Landscape, store: Store) -> None:
    saml = landscape.saml_response("both", "", app="studio", attributes={"teamid": None})
    assert landscape.post_acs(saml)["statusCode"] == 200
    again = landscape.post_acs(saml)
    assert again["statusCode"] == 401 and "already used" in again["body"]
    assert handler.PICK_COOKIE not in str(again["multiValueHeaders"].get("Set-Cookie", []))


def test_a_replayed_choice_is_refused_and_creates_nothing_more(landscape: Landscape, store: Store) -> None:
    picker = studio_sign_in(landscape, "both")
    cookie, options = pick_cookie(picker), choices(picker)
    assert choose(landscape, options["Fraud analytics"], cookie)["statusCode"] == 302
    before = len(landscape.all_profiles())
    for choice in options.values():  # the same choice again, or the other one of the same picker
        replayed = choose(landscape, choice, cookie)
        assert replayed["statusCode"] == 400
        assert "was already used" in replayed["body"]
    assert len(landscape.all_profiles()) == before == 1


def test_a_tampered_choice_or_cookie_is_refused_and_creates_nothing(
    landscape: Landscape, store: Store
) -> None:
    picker = studio_sign_in(landscape, "both")
    cookie, options = pick_cookie(picker), choices(picker)
    name, value = cookie.split("=", 1)
    forged_cookie = f"{name}={value[:-1]}{'A' if value[-1] != 'A' else 'B'}"
    refused = choose(landscape, options["Fraud analytics"], forged_cookie)
    assert refused["statusCode"] == 400 and "This team choice cannot be used" in refused["body"]
    # a choice value that this picker never issued (the cookie is consumed by the attempt)
    tampered = choose(landscape, "A" * 22, cookie)
    assert tampered["statusCode"] == 400
    assert choose(landscape, "not a choice", cookie)["statusCode"] == 400  # malformed
    assert created(landscape) == 0


def test_a_choice_whose_cookie_the_browser_refused_says_so_and_uses_nothing(
    landscape: Landscape, store: Store
) -> None:
    picker = studio_sign_in(landscape, "both")
    query = link_query(picker, "Churn modelling")
    assert abs(int(query["at"]) - time.time()) < 60 and query["ref"]
    refused = choose(landscape, query["choice"], None, at=query["at"], ref=query["ref"])
    assert refused["statusCode"] == 400
    assert "Your browser refused the sign-in cookie" in refused["body"]
    assert "carry your choice of team" in refused["body"] and query["ref"] in refused["body"]
    assert created(landscape) == 0
    # an old link without its cookie is an expired choice, not a refused cookie
    old = choose(landscape, query["choice"], None, at=str(int(time.time()) - 3600))
    assert old["statusCode"] == 400 and "This team choice cannot be used" in old["body"]
    # nothing was consumed: the same choice with its cookie still lands
    landed = choose(landscape, query["choice"], pick_cookie(picker))
    assert landed["statusCode"] == 302 and "team2studio" in headers_of(landed)["Location"]


def test_a_choice_from_another_browser_is_refused(landscape: Landscape, store: Store) -> None:
    mine, theirs = studio_sign_in(landscape, "both"), studio_sign_in(landscape, "both")
    # their link with my cookie: my picker never issued that choice
    refused = choose(landscape, choices(theirs)["Churn modelling"], pick_cookie(mine))
    assert refused["statusCode"] == 400
    # their link without any cookie (a link sent to someone else)
    assert choose(landscape, choices(theirs)["Churn modelling"], None)["statusCode"] == 400
    assert created(landscape) == 0


def test_a_holding_page_token_is_no_picker_and_a_picker_is_no_continuation(
    landscape: Landscape, store: Store
) -> None:
    picker = studio_sign_in(landscape, "both")
    token = pick_cookie(picker).split("=", 1)[1]
    resumed = landscape.invoke(get_event("/saml/continue", cookie=f"{handler.CONTINUE_COOKIE}={token}"))
    assert resumed["statusCode"] == 400
    assert created(landscape) == 0


def test_a_choice_of_a_team_one_was_removed_from_meanwhile_is_refused(
    landscape: Landscape, store: Store
) -> None:
    picker = studio_sign_in(landscape, "both")
    cookie, options = pick_cookie(picker), choices(picker)
    store.remove("both", "team1")  # within the resolver's cache TTL: redemption must ask again
    refused = choose(landscape, options["Fraud analytics"], cookie)
    assert refused["statusCode"] == 403
    assert "Access denied" in refused["body"]
    assert created(landscape) == 0


# --- the Identity Store does not answer ------------------------------------------------------


def _answer(clients: AwsClients, status: int, code: str) -> None:
    body = f'{{"__type": "{code}", "message": "refused"}}'.encode()

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {"Content-Type": "application/x-amz-json-1.1"}, _Raw(body))

    clients.register("before-send.identitystore", respond)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Any:
        yield self._body


def _single_attempt(landscape: Landscape, studio_idp: SamlIdentityProvider) -> AwsClients:
    clients = AwsClients(config=Config(retries={"mode": "standard", "total_max_attempts": 1}))
    _use_table(landscape, studio_idp, clients)
    return clients


@pytest.mark.parametrize("failure", ["throttled", "unreachable"])
def test_an_identity_store_that_does_not_answer_is_a_clear_503_and_nothing_is_used(
    landscape: Landscape, store: Store, studio_idp: SamlIdentityProvider, failure: str
) -> None:
    clients = _single_attempt(landscape, studio_idp)
    if failure == "throttled":
        _answer(clients, 400, "ThrottlingException")
    else:
        def refuse(request: Any, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url=request.url)
        clients.register("before-send.identitystore", refuse)
    saml = landscape.saml_response("both", "", app="studio", attributes={"teamid": None})
    response = landscape.post_acs(saml)
    assert response["statusCode"] == 503
    assert headers_of(response)["Retry-After"] == "60"
    assert "cannot check your team memberships" in response["body"]
    assert "Reference:" in response["body"]
    assert created(landscape) == 0
    assert landscape.replay_items() == 0  # neither the assertion nor a picker was written


def test_an_identity_store_failure_on_redemption_is_a_503_and_creates_nothing(
    landscape: Landscape, store: Store, studio_idp: SamlIdentityProvider
) -> None:
    clients = _single_attempt(landscape, studio_idp)
    picker = studio_sign_in(landscape, "both")
    _answer(clients, 400, "ThrottlingException")
    refused = choose(landscape, choices(picker)["Fraud analytics"], pick_cookie(picker))
    assert refused["statusCode"] == 503
    assert created(landscape) == 0


# --- what one picker sign-in costs -------------------------------------------------------------


def _operations(landscape: Landscape) -> list[str]:
    return [operation for operation, _ in landscape.call_params]


def test_the_aws_calls_of_a_picker_sign_in_cold_and_warm(landscape: Landscape, store: Store) -> None:
    landscape.call_params.clear()
    picker = studio_sign_in(landscape, "both")
    cold_picker = _operations(landscape)
    landscape.call_params.clear()
    choose(landscape, choices(picker)["Fraud analytics"], pick_cookie(picker))
    cold_choice = _operations(landscape)
    # the reader role's session, the person, their groups and the groups' names; replay + picker
    assert sorted(cold_picker) == sorted(["AssumeRole", "GetUserId",
                                          "ListGroupMembershipsForMember", "DescribeGroup",
                                          "DescribeGroup", "PutItem", "PutItem"])
    # redeem, a fresh membership answer (names still cached), then a first sign-in's spoke calls
    assert cold_choice[:3] == ["UpdateItem", "GetUserId", "ListGroupMembershipsForMember"]
    assert "CreateUserProfile" in cold_choice and cold_choice[-1] == "CreatePresignedDomainUrl"

    landscape.call_params.clear()
    picker = studio_sign_in(landscape, "both")
    warm_picker = _operations(landscape)
    landscape.call_params.clear()
    choose(landscape, choices(picker)["Fraud analytics"], pick_cookie(picker))
    warm_choice = _operations(landscape)
    assert sorted(warm_picker) == ["PutItem", "PutItem"]  # membership from the cache (within its TTL)
    assert warm_choice == ["UpdateItem", "GetUserId", "ListGroupMembershipsForMember",
                           "CreatePresignedDomainUrl"]
    print("\ncold picker:", cold_picker, "\ncold choice:", cold_choice,
          "\nwarm picker:", warm_picker, "\nwarm choice:", warm_choice)
