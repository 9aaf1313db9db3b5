"""The dev IdP: an Identity Center-like portal that posts real signed SAML responses.

Each application of the routing table gets its own signing key and
certificate, generated once into the local state folder (never committed);
the local routing file trusts exactly those certificates. Users and their team
memberships come from a small YAML file. Picking a user shows their
applications; opening one answers an auto-submitting form that POSTs the
signed response to the broker's ACS, as Identity Center does.

It refuses nothing on purpose: it is a stand-in for the IdP, not a test of the
broker. Asked to open a team the user is not in, it still posts an assertion
for that team, signed by another trusted application that is not bound to the
team (what a forged team attribute would look like), so the broker's refusal
can be seen in a browser.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

import yaml
from werkzeug.wrappers import Request, Response

from broker import pages
from broker.config import IdpApplication, RoutingTable, Support
from broker.exceptions import ConfigurationError
from broker.local.idp import SamlIdentityProvider, generate_signing_identity
from broker.ops.routing_source import certificate_problem, compile_routing_file, load_routing_table
from broker.routing import load_compiled_table

LOCAL_ROUTING_NAME = "routing.local.yaml"
BANNER = "Dev IdP portal (local stand-in for IAM Identity Center)"
_STYLE = (
    "main{max-width:48rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}"
    ".tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(13rem,1fr));gap:.75rem;"
    "margin:0 0 1rem}.tile{display:block;padding:.9rem 1rem;border:1px solid var(--line);"
    "border-radius:.75rem;text-decoration:none;color:var(--ink);background:#fff;font:inherit;"
    "text-align:left;cursor:pointer}.tile:hover{border-color:var(--link)}"
    ".tile strong{display:block;color:var(--link);font-size:1.05rem}.tile span{display:block;"
    "color:var(--muted);font-size:.875rem}.muted{color:var(--muted)}"
)


@dataclass(frozen=True)
class DevUser:
    """A person of the dev IdP and the teams whose applications are assigned to them."""

    id: str
    name: str
    teams: tuple[str, ...]
    about: str = ""  # what signing in as this user demonstrates


def load_users(path: str | Path, team_ids: Iterable[str]) -> tuple[DevUser, ...]:
    """Read the users file; every team must be one of ``team_ids``."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ConfigurationError([f"{path}: cannot read the dev IdP users: {error}"]) from error
    known = set(team_ids)
    entries = data.get("users") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ConfigurationError([f"{path}: expected a non-empty list under 'users'"])
    users: list[DevUser] = []
    problems: list[str] = []
    for index, entry in enumerate(entries):
        where = f"{path}: users[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            problems.append(f"{where}: expected a mapping with an 'id'")
            continue
        teams = entry.get("teams") or []
        unknown = [t for t in teams if t not in known]
        if unknown:
            problems.append(f"{where}: unknown team(s) {unknown}; routing has {sorted(known)}")
        users.append(DevUser(entry["id"], str(entry.get("name") or entry["id"]), tuple(teams),
                             str(entry.get("about") or "")))
    if len({u.id for u in users}) != len(users):
        problems.append(f"{path}: user ids must be unique")
    if problems:
        raise ConfigurationError(problems)
    return tuple(users)


def team_label(team_id: str) -> str:
    """How the portal names a team's application: ``team1`` -> ``Team 1``."""
    spaced = re.sub(r"(?<=[a-z])(?=\d)", " ", team_id.replace("-", " "))
    return spaced[:1].upper() + spaced[1:]


def signing_identity(state_dir: Path, application: str) -> tuple[str, str]:
    """The application's ``(key_pem, cert_pem)``: read from ``state_dir``, made on first use."""
    folder = state_dir / "idp"
    key_path, cert_path = folder / f"{application}.key.pem", folder / f"{application}.cert.pem"
    if key_path.exists() and cert_path.exists():
        key_pem, cert_pem = key_path.read_text(), cert_path.read_text()
        if certificate_problem(cert_pem, datetime.now(UTC)) is None:
            return key_pem, cert_pem
    key_pem, cert_pem = generate_signing_identity()
    folder.mkdir(parents=True, exist_ok=True)
    key_path.write_text(key_pem)
    key_path.chmod(0o600)
    cert_path.write_text(cert_pem)
    return key_pem, cert_pem


def write_local_routing(
    source: str | Path, target: Path, acs_url: str, certificates: Mapping[str, str],
    portal_url: str | None = None,
) -> RoutingTable:
    """Copy routing.yaml to ``target`` with the local ACS URL and the dev IdP's certificates.

    ``certificates`` maps each application name to the certificate it now signs
    with; ``portal_url`` (the dev portal) becomes the access portal the broker's
    pages link back to. The copy is validated and compiled (``target`` with ``.json``)
    like the Lambda's table, and returned as the broker loads it.
    """
    load_routing_table(source, check_expiry=False)  # its own problems, with its own lines
    data: dict[str, Any] = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    data["service_provider"]["acs_url"] = acs_url
    if portal_url:
        data["support"] = {**(data.get("support") or {}), "portal_url": portal_url}
        for team in data["teams"]:
            if "portal_url" in (team.get("support") or {}):
                team["support"]["portal_url"] = portal_url
    for application in data["applications"]:
        application["certificates"] = [certificates[application["name"]]]
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Generated by the local stack from {source}: the local ACS URL and the dev IdP's\n"
              "# certificates. Do not edit; it is rewritten on every start.\n")
    target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return compile_local_routing(target)


def compile_local_routing(target: Path) -> RoutingTable:
    """Compile the local routing file ``target`` (to ``target`` with ``.json``) and load it as the
    broker does: the local stack runs on the compiled table, like the Lambda (broker.routing)."""
    compiled = target.with_suffix(".json")
    compiled.write_text(compile_routing_file(target), encoding="utf-8")
    return load_compiled_table(compiled)


class DevIdp:
    """The portal and SSO start pages, as a WSGI application."""

    def __init__(
        self,
        users: Iterable[DevUser],
        routing: RoutingTable,
        signers: Mapping[str, SamlIdentityProvider],
    ) -> None:
        """``signers`` maps each application name to its signing IdP (issuer = the application's)."""
        self.users = {user.id: user for user in users}
        self.routing = routing
        self.signers = dict(signers)

    @classmethod
    def for_applications(
        cls, users: Iterable[DevUser], routing: RoutingTable, keys: Mapping[str, tuple[str, str]]
    ) -> DevIdp:
        """Build the signers from ``keys`` (application name -> (key, cert))."""
        attributes = routing.service_provider.attributes
        signers = {
            app.name: SamlIdentityProvider(app.issuer, *keys[app.name], attribute_names=attributes)
            for app in routing.applications.values()
        }
        return cls(users, routing, signers)

    def application_for(self, user: DevUser, team_id: str) -> IdpApplication | None:
        """The application that signs ``user``'s sign-in to ``team_id``.

        A member gets the team's own application; anyone else another trusted
        application that is not bound to the team (so the broker must refuse).
        """
        # Not the membership application: it names no team, so it cannot show a refusal.
        applications = [a for a in self.routing.applications.values() if not a.by_membership]
        member = team_id in user.teams
        for application in applications:
            if (team_id in application.teams) == member:
                return application
        return None

    def membership_application(self) -> IdpApplication | None:
        """The one application routed by membership (the "SageMaker Studio" tile), if any."""
        return next((a for a in self.routing.applications.values() if a.by_membership), None)

    def studio_response(self, user: DevUser) -> tuple[str, IdpApplication]:
        """A signed SAMLResponse of the membership application: the user only, no team attribute."""
        application = self.membership_application()
        if application is None:
            raise LookupError("the local routing table has no teams_from: membership application")
        provider = self.routing.service_provider
        signer = self.signers[application.name]
        xml = signer.build_response(user_id=user.id, team_id="", audience=provider.entity_id,
                                    acs_url=provider.acs_url, attributes={provider.attributes.team: None})
        return signer.encode(xml), application

    def sso_response(self, user: DevUser, team_id: str) -> tuple[str, IdpApplication]:
        """A signed, base64 SAMLResponse for ``user`` and ``team_id``, and the application that signed it."""
        application = self.application_for(user, team_id)
        if application is None:
            raise LookupError(f"no application can sign {team_id!r} for {user.id!r}")
        provider = self.routing.service_provider
        signer = self.signers[application.name]
        xml = signer.build_response(
            user_id=user.id, team_id=team_id, audience=provider.entity_id, acs_url=provider.acs_url)
        return signer.encode(xml), application

    # --- WSGI -------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        return self.respond(request)(environ, start_response)

    def respond(self, request: Request) -> Response:
        """Route one portal request."""
        path = request.path.rstrip("/") or "/"
        if path == "/" and request.method == "GET":
            return _html(self._home())
        match = re.fullmatch(r"/portal/([^/]+)", path)
        if match and request.method == "GET" and match.group(1) in self.users:
            return _html(self._user_page(self.users[match.group(1)]))
        if path == "/idp/start" and request.method == "GET":
            user = self.users.get(request.args.get("user", ""))
            team_id = request.args.get("team", "")
            studio = self.membership_application()
            if user is not None and studio is not None and request.args.get("app") == studio.name:
                saml_response, application = self.studio_response(user)
                return _html(self._auto_post(saml_response, application, user, None))
            if user is None or self.routing.team(team_id) is None:
                return not_found_page("No such user or team.")
            try:
                saml_response, application = self.sso_response(user, team_id)
            except LookupError as error:
                return _html(_page("Cannot sign", f"<h1>Cannot sign</h1><p>{escape(str(error))}</p>"),
                             409)
            return _html(self._auto_post(saml_response, application, user, team_id))
        return not_found_page("There is no page at this address.")

    def _home(self) -> str:
        tiles = "".join(
            f'<a class="tile" id="user-{escape(u.id)}" href="/portal/{escape(u.id)}">'
            f"<strong>{escape(u.name)}</strong><span>{escape(u.about or self._teams_of(u))}</span></a>"
            for u in self.users.values())
        return _page("Dev IdP portal", (
            "<h1>Sign in as</h1><p class=\"lead\">No password: this is the local stand-in for the "
            "IAM Identity Center access portal. Each user shows another page of the broker.</p>"
            f'<div class="tiles">{tiles}</div>'))

    def _teams_of(self, user: DevUser) -> str:
        return ", ".join(self._team_name(t) for t in user.teams) or "no team"

    def _team_name(self, team_id: str) -> str:
        team = self.routing.team(team_id)
        return team.display_name if team is not None and team.display_name else team_label(team_id)

    def _user_page(self, user: DevUser) -> str:
        def tile(team_id: str, member: bool) -> str:
            team = self.routing.team(team_id)
            where = (f"account {team.account_id} · {team.region}" if team is not None else "")
            note = "" if member else " (no access)"
            href = f"/idp/start?user={escape(user.id)}&amp;team={escape(team_id)}"
            return (f'<a class="tile" id="app-{escape(team_id)}" href="{href}"><strong>'
                    f"{escape(self._team_name(team_id) + note)}</strong><span>team {escape(team_id)}"
                    f"</span><span>{escape(where)}</span></a>")

        mine = "".join(tile(t, True) for t in user.teams)
        studio = self.membership_application()
        if studio is not None:  # Identity Center shows it to everyone it is assigned to
            mine = (f'<a class="tile" id="app-{escape(studio.name)}" href="/idp/start?user='
                    f'{escape(user.id)}&amp;app={escape(studio.name)}"><strong>SageMaker Studio'
                    "</strong><span>one application for every team</span><span>your teams, from "
                    "the Identity Store</span></a>") + mine
        mine = f'<div class="tiles">{mine}</div>' if mine else '<p class="muted">none</p>'
        others = "".join(tile(t, False) for t in self.routing.teams if t not in user.teams)
        about = f'<p class="lead">{escape(user.about)}</p>' if user.about else ""
        body = f"<h1>{escape(user.name)}</h1>{about}<h2>Your applications</h2>{mine}"
        if others:
            body += ("<h2>Teams you are not in</h2><p class=\"muted\">Identity Center would not "
                     "show these. The dev IdP posts a sign-in anyway, signed by another trusted "
                     "application, so you can see the broker refuse it.</p>"
                     f'<div class="tiles">{others}</div>')
        return _page(f"{user.name}: applications", body + '<p><a href="/">Switch user</a></p>')

    def _auto_post(self, saml_response: str, application: IdpApplication, user: DevUser,
                   team_id: str | None) -> str:
        acs = self.routing.service_provider.acs_url
        where = self._team_name(team_id) if team_id else "SageMaker Studio"
        return _page("Signing in", (
            f'<form method="post" action="{escape(acs)}">'
            f'<input type="hidden" name="SAMLResponse" value="{escape(saml_response)}">'
            f"<h1>Signing in</h1><p>Signing {escape(user.name)} in to "
            f"{escape(where)} through application {escape(application.name)}...</p>"
            '<noscript><button class="button primary" type="submit">Continue</button></noscript></form>'
            "<script>document.forms[0].submit()</script>"))


def _page(title: str, body: str) -> str:
    return pages.document(title, "info", body, banner=BANNER, extra_style=_STYLE)


def not_found_page(message: str) -> Response:
    """The local stack's 404: the broker's own page, with the way back to the portal."""
    aid = pages.Help("", Support(portal_url="/", contact="whoever runs this local stack"))
    return _html(pages.error_page("Page not found", message, "Start again from the dev portal.",
                                  aid, status=404, banner=BANNER), 404)


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})

