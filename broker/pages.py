"""The HTML pages a person sees, and the security headers every response carries.

Every echoed value is HTML-escaped here; callers pass plain text.
"""

from __future__ import annotations

from html import escape

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The presigned URL is a bearer credential: it must never leak as a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;"
    "color:#16191f}h1{font-size:1.5rem}.ref{color:#5f6b7a;font-size:.875rem}"
)


def _document(title: str, body: str, head_extra: str = "") -> str:
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta name=\"viewport\" content=\"width=device-width\">{head_extra}"
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def error_page(title: str, message: str, correlation_id: str) -> str:
    """A refusal or failure page: what happened in plain words, and the reference to quote."""
    return _document(title, (
        f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
        f"<p class=\"ref\">Reference: <code>{escape(correlation_id)}</code></p>"
    ))


def holding_page(continue_path: str, retry_seconds: int, correlation_id: str) -> str:
    """The page shown while a new Studio profile is being created; it reloads by itself."""
    refresh = f"<meta http-equiv=\"refresh\" content=\"{int(retry_seconds)};url={escape(continue_path)}\">"
    return _document("Preparing your Studio", (
        "<h1>Preparing your Studio</h1>"
        "<p>Your personal Studio profile for this team is being created. "
        "This page continues by itself in a few seconds.</p>"
        f"<p class=\"ref\">Reference: <code>{escape(correlation_id)}</code></p>"
    ), head_extra=refresh)

