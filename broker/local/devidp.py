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

from broker.config import IdpApplication, RoutingTable
from broker.exceptions import ConfigurationError
from broker.local.idp import SamlIdentityProvider, generate_signing_identity
from broker.ops.routing_source import certificate_problem, compile_routing_file, load_routing_table
from broker.routing import load_compiled_table

LOCAL_ROUTING_NAME = "routing.local.yaml"
_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;"
    "color:#16191f}a.tile,button.tile{display:inline-block;margin:.3rem;padding:.8rem 1.2rem;"
    "border:1px solid #8d99a8;border-radius:.5rem;text-decoration:none;color:#0972d3}"
    ".muted{color:#5f6b7a}"
)


@dataclass(frozen=True)
class DevUser:
    """A person of the dev IdP and the teams whose applications are assigned to them."""

    id: str
    name: str
    teams: tuple[str, ...]


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
        users.append(DevUser(entry["id"], str(entry.get("name") or entry["id"]), tuple(teams)))
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
    source: str | Path, target: Path, acs_url: str, certificates: Mapping[str, str]
) -> RoutingTable:
    """Copy routing.yaml to ``target`` with the local ACS URL and the dev IdP's certificates.

    ``certificates`` maps each application name to the certificate it now signs
    with. The copy is validated and compiled (``target`` with ``.json``) like the
    Lambda's table, and returned as the broker loads it.
    """
    load_routing_table(source, check_expiry=False)  # its own problems, with its own lines
    data: dict[str, Any] = yaml.safe_load(Path(source).read_text(encoding="utf-8"))
    data["service_provider"]["acs_url"] = acs_url
    for application in data["applications"]:
        application["certificates"] = [certificates[application["name"]]]
    target.parent.mkdir(parents=True, exist_ok=True)
    header = (f"# Generated by the local stack from {source}: the local ACS URL and the dev IdP's\n"
              "# certificates. Do not edit; it is rewritten on every start.\n")
    target.write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    # The broker runs on the compiled table, as the Lambda does (broker.routing).
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
        applications = list(self.routing.applications.values())
        member = team_id in user.teams
        for application in applications:
            if (team_id in application.teams) == member:
                return application
        return None

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
            if user is None or self.routing.team(team_id) is None:
                return _html(_page("Not found", "<p>No such user or team.</p>"), 404)
            try:
                saml_response, application = self.sso_response(user, team_id)
            except LookupError as error:
                return _html(_page("Cannot sign", f"<p>{escape(str(error))}</p>"), 409)
            return _html(self._auto_post(saml_response, application, user, team_id))
        return _html(_page("Not found", "<p>There is nothing here.</p>"), 404)

    def _home(self) -> str:
        tiles = "".join(
            f'<a class="tile" id="user-{escape(u.id)}" href="/portal/{escape(u.id)}">{escape(u.name)}</a>'
            for u in self.users.values())
        return _page("Dev IdP portal", (
            "<h1>Dev IdP portal</h1><p>Sign in as (no password: this is the local stand-in for "
            f"IAM Identity Center):</p><p>{tiles}</p>"))

    def _user_page(self, user: DevUser) -> str:
        def tile(team_id: str, member: bool) -> str:
            label = team_label(team_id) if member else f"{team_label(team_id)} (no access)"
            href = f"/idp/start?user={escape(user.id)}&amp;team={escape(team_id)}"
            return f'<a class="tile" id="app-{escape(team_id)}" href="{href}">{escape(label)}</a>'

        mine = "".join(tile(t, True) for t in user.teams) or '<span class="muted">none</span>'
        others = "".join(tile(t, False) for t in self.routing.teams if t not in user.teams)
        body = (f"<h1>{escape(user.name)}</h1><h2>Your applications</h2><p>{mine}</p>")
        if others:
            body += ("<h2>Teams you are not in</h2><p class=\"muted\">Identity Center would not "
                     "show these. The dev IdP posts a sign-in anyway, signed by another trusted "
                     "application, so you can see the broker refuse it.</p>"
                     f"<p>{others}</p>")
        return _page(f"{user.name}: applications", body + '<p><a href="/">Switch user</a></p>')

    def _auto_post(self, saml_response: str, application: IdpApplication, user: DevUser,
                   team_id: str) -> str:
        acs = self.routing.service_provider.acs_url
        return _page("Signing in", (
            f'<form method="post" action="{escape(acs)}">'
            f'<input type="hidden" name="SAMLResponse" value="{escape(saml_response)}">'
            f"<p>Signing {escape(user.name)} in to {escape(team_label(team_id))} "
            f"through application {escape(application.name)}...</p>"
            '<noscript><button class="tile" type="submit">Continue</button></noscript></form>'
            "<script>document.forms[0].submit()</script>"))


def _page(title: str, body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
            f"</title><style>{_STYLE}</style></head><body><main>{body}</main></body></html>")


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store"})

