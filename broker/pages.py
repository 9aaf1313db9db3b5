"""The HTML pages a person sees, and the security headers every response carries.

Each page answers what happened, what to do now (back to the access portal,
who to ask, where to request access) and gives the reference to quote. One
small document: inline CSS and, on the holding page, one inline script, both
allowed by their hashes in the Content-Security-Policy (nothing else may run
or load). Every echoed value is HTML-escaped here; callers pass plain text.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from html import escape

from broker.config import Support

_STYLE = (
    ":root{--ink:#000716;--muted:#5f6b7a;--line:#c6c6cd;--link:#0972d3;--bar:#232f3e;"
    "--page:#f2f3f3;--error:#d91515;--warn:#8d6605;--info:#0972d3}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--page);color:var(--ink);line-height:1.5;"
    "font:1rem/1.5 'Amazon Ember','Helvetica Neue',Roboto,Arial,system-ui,sans-serif}"
    "header{background:var(--bar);color:#fff;padding:.75rem 1.25rem;font-weight:700;font-size:.95rem}"
    "main{max-width:41rem;margin:2.5rem auto;padding:0 1rem}"
    ".card{background:#fff;border-radius:1rem;border-top:.35rem solid var(--info);"
    "box-shadow:0 1px 4px rgba(0,7,22,.18);padding:1.5rem 1.75rem}"
    ".error{border-top-color:var(--error)}.warning{border-top-color:var(--warn)}"
    "h1{font-size:1.5rem;line-height:1.3;margin:0 0 .75rem}"
    "p{margin:0 0 .9rem}.lead{font-size:1.075rem}"
    "a{color:var(--link)}a:focus-visible{outline:.15rem solid var(--link);outline-offset:.15rem}"
    ".actions{display:flex;flex-wrap:wrap;gap:.75rem;margin:1.25rem 0}"
    ".button{display:inline-block;padding:.5rem 1.25rem;border:.125rem solid var(--link);"
    "border-radius:1.25rem;font-weight:700;text-decoration:none;background:#fff}"
    ".primary{background:var(--link);color:#fff}"
    ".help,.ref{color:var(--muted);font-size:.9rem}.ref{border-top:1px solid var(--line);"
    "padding-top:.9rem;margin:0}code{font-size:.9rem;color:var(--ink);overflow-wrap:anywhere}"
    ".progress{height:.4rem;border-radius:.2rem;background:#e9ebed;overflow:hidden;margin:0 0 1rem}"
    ".progress span{display:block;height:100%;width:35%;border-radius:.2rem;background:var(--info);"
    "animation:slide 1.6s ease-in-out infinite}"
    "@keyframes slide{from{transform:translateX(-100%)}to{transform:translateX(290%)}}"
    "@media (prefers-reduced-motion:reduce){.progress span{animation:none;width:100%;opacity:.5}}"
    ".teams{list-style:none;margin:0 0 1.25rem;padding:0;display:grid;gap:.75rem}"
    ".team{display:block;padding:.75rem 1rem;border:.125rem solid var(--line);border-radius:.75rem;"
    "color:var(--ink);text-decoration:none}.team:hover{border-color:var(--link)}"
    ".team:focus-visible{outline:.15rem solid var(--link);outline-offset:.15rem}"
    ".team strong{display:block;color:var(--link);font-size:1.075rem}"
    ".team span{color:var(--muted);font-size:.9rem;overflow-wrap:anywhere}"
    ".team.off{border-style:dashed}.team.off:hover{border-color:var(--line)}"
    ".team.off strong{color:var(--ink)}.team.off span{display:block}"
    "@media (max-width:30rem){main{margin:1rem auto}.card{padding:1.25rem 1.1rem}"
    "h1{font-size:1.3rem}.button{width:100%;text-align:center}}"
)

# The holding page's only script: the elapsed time ticks on, and after the delay the page
# continues (replacing itself in the history, so Back does not walk through the polls).
# Constant on purpose: the CSP allows exactly this text by its hash; values come from data-*.
_SCRIPT = (
    "(function(){var e=document.getElementById('elapsed'),c=document.getElementById('continue'),"
    "a=document.getElementById('auto');if(!e||!c)return;a.hidden=false;"
    "var base=+e.getAttribute('data-seconds')||0,t0=Date.now();"
    "function u(n,w){return n+' '+w+(n===1?'':'s')}"
    "function show(){var s=Math.floor(base+(Date.now()-t0)/1000),m=Math.floor(s/60);"
    "e.textContent=m?u(m,'minute')+' '+u(s%60,'second'):u(s,'second')}"
    "setInterval(show,1000);"
    "setTimeout(function(){location.replace(c.href)},(+c.getAttribute('data-after')||3)*1000)})();"
)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # The presigned URL is a bearer credential: it must never leak as a Referer.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

# What a page says of a team no verified sign-in named.
SOME_TEAM = "this team"
BANNER = "SageMaker Studio sign-in"


@dataclass(frozen=True)
class Help:
    """What every page offers besides its message: the reference, and where to turn.

    ``team`` is the display name of a team a verified sign-in named (from the
    routing table, never the request); ``None`` when no such team is known.
    """

    reference: str
    support: Support = field(default_factory=Support)
    team: str | None = None

    def fill(self, text: str) -> str:
        """``text`` with ``{team}`` replaced by the team's name (or "this team")."""
        return text.replace("{team}", self.team or SOME_TEAM)


def duration(seconds: float) -> str:
    """``75`` -> ``1 minute 15 seconds``; the holding page's script writes the same."""
    total = max(0, int(seconds))
    minutes, rest = divmod(total, 60)

    def unit(count: int, word: str) -> str:
        return f"{count} {word}{'' if count == 1 else 's'}"

    return f"{unit(minutes, 'minute')} {unit(rest, 'second')}" if minutes else unit(rest, "second")


def error_page(
    title: str, message: str, advice: str, help: Help, *, status: int = 500,
    offers_access_request: bool = False, banner: str = BANNER,
) -> str:
    """A refusal or failure page: what happened, what to do now, the reference to quote."""
    title, kind = help.fill(title), "warning" if status == 503 else "error"
    actions = [_portal_link(help.support, primary=True)]
    if offers_access_request and help.support.request_access_url:
        label = f"Request access to {help.team}" if help.team else "Request access"
        actions.append(_link(help.support.request_access_url, label))
    return document(title, kind, (
        f"<h1>{escape(title)}</h1><p class=\"lead\">{escape(help.fill(message))}</p>"
        f"<p>{escape(help.fill(advice))}</p>{_actions(actions)}{_footer(help)}"
    ), banner=banner)


def holding_page(continue_url: str, retry_seconds: int, elapsed_seconds: float, help: Help) -> str:
    """The page shown while a new Studio profile is being created; it continues by itself.

    A script (no meta refresh) continues after ``retry_seconds``; without scripts the
    "Continue now" link does the same by hand.
    """
    team = help.team or SOME_TEAM
    continue_link = (f'<a id="continue" class="button primary" href="{escape(continue_url)}" '
                     f'data-after="{int(retry_seconds)}">Continue now</a>')
    body = (
        f"<h1>Preparing Studio for {escape(team)}</h1>"
        f"<p class=\"lead\">Your personal Studio profile for {escape(team)} is being created. "
        "This happens once per team and usually takes less than a minute.</p>"
        '<div class="progress" aria-hidden="true"><span></span></div>'
        f'<p>Working on it for <strong id="elapsed" data-seconds="{int(max(0, elapsed_seconds))}">'
        f"{duration(elapsed_seconds)}</strong> (since you opened Studio).</p>"
        '<p id="auto" hidden>This page continues by itself every few seconds.</p>'
        "<noscript><p>Scripts are off in this browser, so this page cannot continue by itself: "
        "select Continue now in a few seconds.</p></noscript>"
        f"{_actions([continue_link])}{_footer(help)}<script>{_SCRIPT}</script>"
    )
    return document(f"Preparing Studio for {team}", "info", body)


@dataclass(frozen=True)
class PickerEntry:
    """One team on the picker page: where its link goes (``None``: under maintenance, no link,
    ``note`` the team's disabled message), and how the team is named."""

    url: str | None
    team: str
    account_id: str
    region: str
    note: str = ""


def _picker_item(entry: PickerEntry) -> str:
    where = f"<span>Account {escape(entry.account_id)}, region {escape(entry.region)}</span>"
    if entry.url is not None:
        return (f'<li><a class="team" href="{escape(entry.url)}"><strong>{escape(entry.team)}</strong>'
                f"{where}</a></li>")
    note = f": {entry.note}" if entry.note else ""
    return (f'<li><div class="team off"><strong>{escape(entry.team)}</strong>{where}'
            f"<span>Under maintenance{escape(note)}</span></div></li>")


def picker_page(entries: list[PickerEntry], help: Help) -> str:
    """The team picker: one link per team the person is a member of (each usable once); a team
    under maintenance is listed, with its message, but is no link."""
    items = "".join(_picker_item(e) for e in entries)
    body = (
        "<h1>Choose your team</h1>"
        f'<p class="lead">You are a member of {len(entries)} teams that use Studio. '
        "Each team has its own Studio and its own files: choose the one to open now.</p>"
        f'<ul class="teams">{items}</ul>'
        "<p>To open another team later, start again from your access portal: "
        "a choice works once, for a few minutes.</p>"
        f"{_actions([_portal_link(help.support, primary=False)])}{_footer(help)}"
    )
    return document("Choose your team", "info", body)


def document(title: str, kind: str, card: str, *, banner: str = BANNER, extra_style: str = "") -> str:
    """The one page shape: a banner, then one card (``kind``: info, warning or error).

    ``extra_style`` is for the local stack's pages only: the broker's CSP allows
    exactly the one stylesheet by its hash.
    """
    style = f"<style>{_STYLE}</style>" + (f"<style>{extra_style}</style>" if extra_style else "")
    return (
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
        f"<title>{escape(title)} - {escape(banner)}</title>{style}</head>"
        f"<body><header>{escape(banner)}</header>"
        f"<main><div class=\"card {kind}\">{card}</div></main></body></html>"
    )


def _link(url: str, label: str, *, primary: bool = False) -> str:
    css = "button primary" if primary else "button"
    return f'<a class="{css}" href="{escape(url)}">{escape(label)}</a>'


def _portal_link(support: Support, *, primary: bool) -> str:
    if support.portal_url:
        return _link(support.portal_url, "Back to the access portal", primary=primary)
    return ""


def _actions(links: list[str]) -> str:
    present = "".join(link for link in links if link)
    return f'<p class="actions">{present}</p>' if present else ""


def _footer(help: Help) -> str:
    who = escape(help.support.contact or "your platform team")
    if not help.reference:
        return f"<p class=\"help\">Need help? Contact {who}.</p>"
    return (f"<p class=\"help\">Need help? Contact {who} and quote this reference.</p>"
            f"<p class=\"ref\">Reference: <code>{escape(help.reference)}</code></p>")
