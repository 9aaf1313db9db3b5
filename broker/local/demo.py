"""The seed scenario over real HTTP against a running local stack, with its checks.

A small client walks what a browser does: open the application in the dev IdP
portal, submit its form to the broker's ACS, follow a holding page if one
comes, then follow the 302 to the Studio stand-in and read where it landed.
The checks compare that, and the profiles that exist in the emulator, with
what the users file and the routing table say should happen.
"""

from __future__ import annotations

import http.client
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import boto3

from broker.config import RoutingTable, Team
from broker.local.devidp import DevUser
from broker.local.stack import HUB_REGION, ProvisionedSpoke, spoke_client
from broker.profile_name import profile_name_for

# (user, team): the seed scenario; members land, anyone else is refused.
SEED_SIGN_INS = (("user1", "team1"), ("user1", "team2"), ("user2", "team2"), ("user3", "team1"))
FACTS = ("account", "region", "domain", "profile", "execution-role")
MAX_HOLDING_PAGES = 20


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: http.client.HTTPMessage
    body: str


@dataclass(frozen=True)
class SignIn:
    """Where one sign-in ended: the Studio stand-in's facts, or the refusal page."""

    user: str
    team: str
    status: int
    title: str
    facts: dict[str, str] = field(default_factory=dict)
    saml_response: str = ""
    studio_url: str = ""
    holding_pages: int = 0

    @property
    def landed(self) -> bool:
        return bool(self.facts)

    @property
    def outcome(self) -> str:
        if not self.landed:
            return f"refused: {self.status} {self.title}"
        return f"landed after {self.holding_pages} holding page(s)" if self.holding_pages else "landed"


@dataclass(frozen=True)
class Check:
    ok: bool
    text: str


@dataclass
class DemoReport:
    sign_ins: list[SignIn]
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks)


class _FormAndFacts(HTMLParser):
    """Reads a page's form (action, hidden inputs), title, continue link and ``<dd id>`` facts."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.inputs: dict[str, str] = {}
        self.facts: dict[str, str] = {}
        self.continue_url = ""  # the holding page's "Continue now"
        self.h1 = ""
        self._capture: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            self.action = values.get("action", "")
        elif tag == "input" and values.get("name"):
            self.inputs[values["name"]] = values.get("value", "")
        elif tag == "a" and values.get("id") == "continue":
            self.continue_url = values.get("href", "")
        elif tag == "dd" and values.get("id"):
            self._capture = values["id"]
        elif tag == "h1":
            self._capture = "h1"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("dd", "h1"):
            self._capture = None

    def handle_data(self, data: str) -> None:
        if self._capture == "h1":
            self.h1 += data
        elif self._capture:
            self.facts[self._capture] = self.facts.get(self._capture, "") + data


def parse_page(body: str) -> _FormAndFacts:
    """The form, facts, continue link and heading of an HTML page."""
    parser = _FormAndFacts()
    parser.feed(body)
    return parser


def request(method: str, url: str, body: str | None = None,
            headers: dict[str, str] | None = None) -> HttpAnswer:
    """One HTTP request, redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return HttpAnswer(response.status, response.headers, response.read().decode("utf-8"))
    finally:
        connection.close()


def sign_in(base_url: str, user: str, team: str) -> SignIn:
    """Open ``team``'s application as ``user`` and follow the browser's path to the end."""
    start = request("GET", f"{base_url}/idp/start?" + urllib.parse.urlencode({"user": user, "team": team}))
    form = parse_page(start.body)
    if start.status != 200 or "SAMLResponse" not in form.inputs:
        return SignIn(user, team, start.status, f"dev IdP: {form.h1 or 'no form'}")
    saml_response = form.inputs["SAMLResponse"]
    answer = post_acs(form.action, saml_response)
    held = 0
    while answer.status == 202 and held < MAX_HOLDING_PAGES:
        held += 1
        # The holding page: reload its continue URL with its cookie, as a browser would.
        cookie = (answer.headers.get("Set-Cookie") or "").split(";", 1)[0]
        time.sleep(0.5)
        answer = request("GET", urllib.parse.urljoin(form.action, parse_page(answer.body).continue_url),
                         headers={"Cookie": cookie})
    if answer.status != 302:
        return SignIn(user, team, answer.status, parse_page(answer.body).h1,
                      saml_response=saml_response, holding_pages=held)
    studio_url = answer.headers["Location"]
    studio = request("GET", studio_url)
    page = parse_page(studio.body)
    return SignIn(user, team, studio.status, page.h1, dict(page.facts), saml_response, studio_url, held)


def post_acs(acs_url: str, saml_response: str) -> HttpAnswer:
    """POST the SAMLResponse form to the ACS, as the dev IdP's page does."""
    return request("POST", acs_url, urllib.parse.urlencode({"SAMLResponse": saml_response}),
                   {"Content-Type": "application/x-www-form-urlencoded"})


def profiles_in(spokes: Iterable[ProvisionedSpoke]) -> list[dict[str, Any]]:
    """Every user profile in the spokes' domains, described, with its tags and account."""
    hub = boto3.Session(region_name=HUB_REGION)
    found = []
    for spoke in spokes:
        sagemaker = spoke_client(hub, spoke.account_id, spoke.region)("sagemaker")
        for summary in sagemaker.list_user_profiles(DomainIdEquals=spoke.domain_id)["UserProfiles"]:
            profile = sagemaker.describe_user_profile(
                DomainId=spoke.domain_id, UserProfileName=summary["UserProfileName"])
            tags = sagemaker.list_tags(ResourceArn=profile["UserProfileArn"])["Tags"]
            profile["Tags"] = {tag["Key"]: tag["Value"] for tag in tags}
            profile["AccountId"] = spoke.account_id
            found.append(profile)
    return found


def run_seed_scenario(
    base_url: str,
    routing: RoutingTable,
    users: Iterable[DevUser],
    spokes: Iterable[ProvisionedSpoke],
    sign_ins: Iterable[tuple[str, str]] = SEED_SIGN_INS,
) -> DemoReport:
    """Run the sign-ins over HTTP and check them against the users file and the routing table."""
    members = {user.id: set(user.teams) for user in users}
    results = [sign_in(base_url, user, team) for user, team in sign_ins]
    checks: list[Check] = []
    for result in results:
        checks.extend(_sign_in_checks(result, routing, members.get(result.user, set())))

    expected = {profile_name_for(r.user, r.team): r.team
                for r in results if r.team in members.get(r.user, set())}
    profiles = profiles_in(spokes)
    names = sorted(p["UserProfileName"] for p in profiles)
    checks.append(Check(names == sorted(expected),
                        f"exactly {len(expected)} profiles exist: found {len(names)} ({', '.join(names)})"))
    for profile in profiles:
        checks.append(_profile_check(profile, routing.team(expected.get(profile["UserProfileName"], ""))))
    checks.extend(_isolation_checks(results))
    checks.extend(_single_use_checks(results, routing.service_provider.acs_url))
    return DemoReport(results, checks)


def _sign_in_checks(result: SignIn, routing: RoutingTable, teams: set[str]) -> list[Check]:
    label = f"{result.user} -> {result.team}"
    if result.team not in teams:
        return [Check(not result.landed and result.status == 403,
                      f"{label}: no access, refused with the broker's page ({result.outcome})")]
    team = routing.team(result.team)
    assert team is not None
    wanted = {"account": team.account_id, "region": team.region, "profile": profile_name_for(
        result.user, result.team), "execution-role": team.execution_role_arn}
    got = {key: result.facts.get(key) for key in wanted}
    return [Check(result.landed and got == wanted,
                  f"{label}: lands in {team.account_id} {team.region} as {wanted['profile']} "
                  f"({result.outcome})")]


def _profile_check(profile: dict[str, Any], team: Team | None) -> Check:
    name, tags = profile["UserProfileName"], profile["Tags"]
    text = (f"{name} is in {profile['AccountId']} with its team's execution role "
            f"and tags Team={tags.get('Team')}, User={tags.get('User')}")
    if team is None:
        return Check(False, f"{name}: a profile nobody should have")
    actual = (profile["AccountId"], profile["UserSettings"].get("ExecutionRole"), tags.get("Team"),
              profile_name_for(tags.get("User", ""), team.id))
    return Check(actual == (team.account_id, team.execution_role_arn, team.id, name), text)


def _isolation_checks(results: list[SignIn]) -> list[Check]:
    checks = []
    for user in sorted({r.user for r in results}):
        seen = {r.facts["profile"] for r in results if r.user == user and r.landed}
        foreign = sorted(p for p in seen if not p.endswith(f"--{user}"))
        accounts = [r.facts["account"] for r in results if r.user == user and r.landed]
        checks.append(Check(not foreign and len(set(accounts)) == len(accounts),
                            f"{user} sees only their own profiles, one per team account "
                            f"({', '.join(sorted(seen)) or 'none'})"))
    return checks


def _single_use_checks(results: list[SignIn], acs_url: str) -> list[Check]:
    landed = next((r for r in results if r.landed), None)
    if landed is None:
        return [Check(False, "no sign-in landed, so single use cannot be checked")]
    replay = post_acs(acs_url, landed.saml_response)
    studio_again = request("GET", landed.studio_url)
    return [
        Check(replay.status == 401, f"a used SAMLResponse is refused (replay: {replay.status})"),
        Check(studio_again.status == 403, f"a used Studio link is refused ({studio_again.status})"),
    ]


def format_report(report: DemoReport, write: Callable[[str], None] = print) -> None:
    """The table of sign-ins, then every check with ok/FAIL."""
    header = ("USER", "TEAM", "ACCOUNT", "REGION", "DOMAIN", "PROFILE", "EXECUTION ROLE", "OUTCOME")
    rows = [header] + [
        (r.user, r.team, *(r.facts.get(key, "-") for key in FACTS), r.outcome) for r in report.sign_ins]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    write("")
    for check in report.checks:
        write(f"{'ok  ' if check.ok else 'FAIL'}  {check.text}")
    write("")
    write("Demo passed." if report.ok else "Demo FAILED.")

