"""The Studio stand-in: where a local presigned URL lands.

The emulator's presigned URLs point here
(``/studio/<account>/<region>/<domain>/auth?token=...``). The page redeems the
token as Studio would (one use, short expiry, as the emulator issued it),
checks it belongs to the domain in the path, and shows where the person
arrived: account, region, domain, user profile and execution role.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape
from typing import Any

from werkzeug.wrappers import Request, Response

from broker.emulator import InvalidPresignedToken, PresignedToken

PREFIX = "/studio"
_PATH = re.compile(rf"^{PREFIX}/(?P<account>\d{{12}})/(?P<region>[a-z0-9-]+)/(?P<domain>[^/]+)/auth$")
Redeemer = Callable[[str], PresignedToken]


def studio_base_url(base_url: str) -> str:
    """The emulator's ``studio_base_url`` template for a stand-in served at ``base_url``."""
    return f"{base_url.rstrip('/')}{PREFIX}/{{account_id}}/{{region}}/{{domain_id}}"


class StudioStandIn:
    """WSGI application of the stand-in; ``redeem`` is the emulator's token registry."""

    def __init__(self, redeem: Redeemer | None) -> None:
        self.redeem = redeem

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """Redeem the token in the URL and show the landing, or say why not."""
        match = _PATH.match(request.path)
        token = request.args.get("token", "")
        if request.method != "GET" or match is None or not token:
            return _page(404, "Not found", "This is not a Studio link.")
        if self.redeem is None:
            return _page(501, "Cannot verify",
                         "The emulator runs in another process, so this stand-in cannot redeem its "
                         "tokens. Run `broker serve` without --aws-endpoint to see the landing page.")
        try:
            record = self.redeem(token)
        except InvalidPresignedToken as error:
            return _page(403, "Studio link refused", str(error))
        if (record.account_id, record.region, record.domain_id) != (
                match["account"], match["region"], match["domain"]):
            return _page(403, "Studio link refused", "The token belongs to another domain.")
        return _landing(record)


def _landing(record: PresignedToken) -> Response:
    facts = (
        ("account", "Account", record.account_id),
        ("region", "Region", record.region),
        ("domain", "Domain", record.domain_id),
        ("profile", "User profile", record.user_profile_name),
        ("execution-role", "Execution role", record.execution_role or "(domain default)"),
        ("landing-uri", "Landing URI", record.landing_uri or "(default)"),
        ("session", "Session length", f"{record.session_expiration_seconds} s"),
    )
    rows = "".join(f'<dt>{escape(label)}</dt><dd id="{key}">{escape(value)}</dd>'
                   for key, label, value in facts)
    body = (f"<h1>SageMaker Studio (local stand-in)</h1><p>You are signed in to Studio as "
            f"<strong id=\"who\">{escape(record.user_profile_name)}</strong>.</p><dl>{rows}</dl>")
    return _response(200, "Studio (local)", body)


def _page(status: int, title: str, message: str) -> Response:
    return _response(status, title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def _response(status: int, title: str, body: str) -> Response:
    html = ('<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f"<title>{escape(title)}</title><style>body{{font-family:system-ui,sans-serif;"
            "max-width:44rem;margin:3rem auto;padding:0 1rem}dt{font-weight:600}"
            "dd{margin:0 0 .6rem 0;font-family:monospace}</style></head>"
            f"<body><main>{body}</main></body></html>")
    return Response(html, status, content_type="text/html; charset=utf-8",
                    headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
