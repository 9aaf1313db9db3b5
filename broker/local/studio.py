"""The Studio stand-in: where a local presigned URL lands.

The emulator's presigned URLs point here
(``/studio/<account>/<region>/<domain>/auth?token=...``). The page redeems the
token as Studio would (one use, short expiry, as the emulator issued it),
checks it belongs to the domain in the path, and shows where the person
arrived: the team, account, region, domain, user profile and execution role,
with a way back to the dev portal. It looks like the broker's own pages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from broker import pages
from broker.config import Support
from broker.emulator import InvalidPresignedToken, PresignedToken

PREFIX = "/studio"
BANNER = "SageMaker Studio (local stand-in)"
_STYLE = ("dl{display:grid;grid-template-columns:max-content 1fr;gap:.35rem 1.25rem;margin:0 0 1rem}"
          "dt{font-weight:700}dd{margin:0;font-family:ui-monospace,Menlo,Consolas,monospace;"
          "overflow-wrap:anywhere}@media (max-width:30rem){dl{grid-template-columns:1fr}"
          "dd{margin-bottom:.5rem}}")
_PATH = re.compile(rf"^{PREFIX}/(?P<account>\d{{12}})/(?P<region>[a-z0-9-]+)/(?P<domain>[^/]+)/auth$")
Redeemer = Callable[[str], PresignedToken]


def studio_base_url(base_url: str) -> str:
    """The emulator's ``studio_base_url`` template for a stand-in served at ``base_url``."""
    return f"{base_url.rstrip('/')}{PREFIX}/{{account_id}}/{{region}}/{{domain_id}}"


class StudioStandIn:
    """WSGI application of the stand-in; ``redeem`` is the emulator's token registry.

    ``teams`` names the team of each domain id (for the page); ``portal_url`` is the way back.
    """

    def __init__(self, redeem: Redeemer | None, teams: Mapping[str, str] | None = None,
                 portal_url: str = "/") -> None:
        self.redeem = redeem
        self.teams = dict(teams or {})
        self.portal_url = portal_url

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """Redeem the token in the URL and show the landing, or say why not."""
        match = _PATH.match(request.path)
        token = request.args.get("token", "")
        if request.method != "GET" or match is None or not token:
            return self._page(404, "Page not found", "There is no Studio page at this address.",
                              "Open Studio from the dev portal.")
        if self.redeem is None:
            return self._page(501, "Cannot verify",
                              "The emulator runs in another process, so this stand-in cannot redeem "
                              "its tokens.", "Run `broker serve` without --aws-endpoint to see the "
                              "landing page.")
        try:
            record = self.redeem(token)
        except InvalidPresignedToken as error:
            return self._page(403, "Studio link refused", str(error), _ONE_USE)
        if (record.account_id, record.region, record.domain_id) != (
                match["account"], match["region"], match["domain"]):
            return self._page(403, "Studio link refused", "The token belongs to another domain.",
                              _ONE_USE)
        return self._landing(record)

    def _landing(self, record: PresignedToken) -> Response:
        team = self.teams.get(record.domain_id, record.domain_id)
        facts = (
            ("team", "Team", team),
            ("account", "Account", record.account_id),
            ("region", "Region", record.region),
            ("domain", "Domain", record.domain_id),
            ("profile", "User profile", record.user_profile_name),
            ("execution-role", "Execution role", record.execution_role or "(domain default)"),
            ("landing-uri", "Landing URI", record.landing_uri or "(default)"),
            ("session", "Session length", hours(record.session_expiration_seconds)),
        )
        rows = "".join(f'<dt>{escape(label)}</dt><dd id="{key}">{escape(value)}</dd>'
                       for key, label, value in facts)
        card = (f"<h1>{escape(team)}: SageMaker Studio (local stand-in)</h1>"
                "<p class=\"lead\">You are signed in to Studio as "
                f"<strong id=\"who\">{escape(record.user_profile_name)}</strong>. In AWS this would "
                "be the team's Studio; here it shows where the sign-in arrived.</p>"
                f'<dl>{rows}</dl><p class="actions"><a id="back" class="button primary" '
                f'href="{escape(self.portal_url)}">Back to the dev portal</a></p>')
        return _response(200, pages.document(f"{team}: Studio", "info", card, banner=BANNER,
                                             extra_style=_STYLE))

    def _page(self, status: int, title: str, message: str, advice: str) -> Response:
        aid = pages.Help("", Support(portal_url=self.portal_url, contact="whoever runs this local stack"))
        html = pages.error_page(title, message, advice, aid, status=status, banner=BANNER)
        return _response(status, html)


_ONE_USE = "A Studio link works once: open Studio again from the dev portal."


def hours(seconds: int) -> str:
    """``43200`` -> ``12 hours``; ``5400`` -> ``1.5 hours``."""
    value = seconds / 3600
    text = f"{value:.0f}" if value == int(value) else f"{value:.2f}".rstrip("0")
    return f"{text} hour{'' if text == '1' else 's'}"


def _response(status: int, html: str) -> Response:
    return Response(html, status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
