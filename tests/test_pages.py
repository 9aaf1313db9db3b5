"""The page builders: one small safe document, texts per error class, the CSP hashes."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from broker import exceptions, pages
from broker.config import Support
from broker.ops.routing_source import compile_routing_file
from broker.routing import load_compiled_table

ROOT = Path(__file__).resolve().parents[1]

SUPPORT = Support(portal_url="https://portal.example.com/start", contact="Help <desk> & co",
                  request_access_url="https://access.example.com/ask?team=1&x=2")


class _Shape(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.inline: dict[str, list[str]] = {"style": [], "script": []}
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._open = tag if tag in self.inline else None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.inline[self._open].append(data)

    def handle_endtag(self, tag: str) -> None:
        self._open = None


def _shape(html: str) -> _Shape:
    shape = _Shape()
    shape.feed(html)
    return shape


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _pages() -> list[str]:
    help = pages.Help("ref-1", SUPPORT, "Fraud analytics")
    return [
        pages.error_page("Access denied", exceptions.NotAuthorised.public_message,
                         exceptions.NotAuthorised.advice, help, status=403, offers_access_request=True),
        pages.holding_page("https://b.example.com/saml/continue?ref=ref-1&at=1", 3, 75, help),
        pages.picker_page(_PICKS, pages.Help("ref-1", SUPPORT)),
    ]


_PICKS = [pages.PickerEntry("https://b.example.com/saml/choose?choice=abc&ref=ref-1", "R&D <ml>",
                            "111111111111", "us-east-1"),
          pages.PickerEntry("https://b.example.com/saml/choose?choice=def&ref=ref-1", "Churn modelling",
                            "222222222222", "eu-west-1")]


@pytest.mark.parametrize("html", _pages(), ids=["refusal", "holding", "picker"])
def test_one_small_document_whose_inline_code_the_csp_allows_by_hash(html: str) -> None:
    shape = _shape(html)
    assert html.startswith('<!DOCTYPE html><html lang="en">')
    assert [tag for tag, _ in shape.tags].count("h1") == 1
    assert [tag for tag, _ in shape.tags].count("main") == 1
    # Nothing loads from elsewhere: no src, no stylesheet links, no meta refresh.
    assert not any("src" in attrs or tag in ("link", "iframe", "img") for tag, attrs in shape.tags)
    assert "http-equiv" not in html
    policy = pages.CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in policy and "default-src 'none'" in policy
    for kind in ("style", "script"):
        for text in shape.inline[kind]:
            assert f"{kind}-src {_hash(text)}" in policy
    assert len(html) < 12_000


def test_the_picker_lists_each_team_as_one_escaped_link_with_account_and_region() -> None:
    html = pages.picker_page(_PICKS, pages.Help("ref-1", SUPPORT))
    links = [attrs["href"] for tag, attrs in _shape(html).tags if tag == "a" and attrs.get("class") == "team"]
    assert links == [e.url for e in _PICKS]  # the parser unescapes &amp; back
    assert "R&amp;D &lt;ml&gt;" in html and "<ml>" not in html
    assert "111111111111" in html and "eu-west-1" in html
    assert "<form" not in html and "SAMLResponse" not in html  # links only: form-action stays 'none'
    assert "https://portal.example.com/start" in html and "ref-1" in html


def test_a_team_under_maintenance_is_listed_with_its_escaped_message_but_is_no_link() -> None:
    entries = [*_PICKS, pages.PickerEntry(None, "Fraud <analytics>", "333333333333", "eu-central-1",
                                          note="Back at 14:00 & later")]
    html = pages.picker_page(entries, pages.Help("ref-1", SUPPORT))
    links = [attrs["href"] for tag, attrs in _shape(html).tags if tag == "a" and attrs.get("class") == "team"]
    assert links == [e.url for e in _PICKS]
    assert ('<div class="team off"><strong>Fraud &lt;analytics&gt;</strong>'
            "<span>Account 333333333333, region eu-central-1</span>"
            "<span>Under maintenance: Back at 14:00 &amp; later</span></div>") in html
    assert "You are a member of 3 teams" in html


def test_a_refusal_escapes_what_the_table_says_and_names_the_team() -> None:
    html = _pages()[0]
    assert "You do not have access to Studio for Fraud analytics." in html
    assert "Contact Help &lt;desk&gt; &amp; co and quote this reference." in html
    assert ('href="https://access.example.com/ask?team=1&amp;x=2">'
            "Request access to Fraud analytics</a>") in html
    assert 'href="https://portal.example.com/start">Back to the access portal</a>' in html


def test_without_a_verified_team_or_support_the_page_stays_general() -> None:
    html = pages.error_page("Access denied", exceptions.NotAuthorised.public_message,
                            exceptions.NotAuthorised.advice, pages.Help("r"), status=403,
                            offers_access_request=True)
    assert "You do not have access to Studio for this team." in html
    assert "Request access" not in html and "Back to the access portal" not in html
    assert "Contact your platform team" in html


def test_the_holding_page_shows_the_team_the_elapsed_time_and_a_link_to_continue() -> None:
    html = _pages()[1]
    assert "<h1>Preparing Studio for Fraud analytics</h1>" in html
    assert '<strong id="elapsed" data-seconds="75">1 minute 15 seconds</strong>' in html
    assert re.search(r'id="continue" class="button primary" href="[^"]+ref=ref-1&amp;at=1" '
                     r'data-after="3">Continue now</a>', html)
    assert "<noscript>" in html


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 seconds"), (1, "1 second"), (59, "59 seconds"), (60, "1 minute 0 seconds"),
    (61, "1 minute 1 second"), (125, "2 minutes 5 seconds"), (-3, "0 seconds"),
])
def test_duration_reads_as_the_script_writes_it(seconds: float, text: str) -> None:
    assert pages.duration(seconds) == text


ERRORS = [cls for cls in vars(exceptions).values()
          if isinstance(cls, type) and issubclass(cls, exceptions.BrokerError)]


@pytest.mark.parametrize("error", ERRORS, ids=lambda cls: cls.__name__)
def test_every_error_says_what_happened_and_what_to_do(error: type[exceptions.BrokerError]) -> None:
    assert error.title and error.public_message.endswith(".") and error.advice.endswith(".")
    assert "SSO portal" not in error.public_message + error.advice  # one name: the access portal
    assert (error.retry_after_seconds is not None) == (error.status == 503)
    assert (error.allowed_methods is not None) == (error.status == 405)


def test_titles_match_their_status() -> None:
    assert "too large" in exceptions.RequestTooLarge.title
    assert "cannot be opened directly" in exceptions.MethodNotAllowed.title
    assert "maintenance" in exceptions.TeamDisabled.title
    assert "cookie" in exceptions.ContinuationCookieRefused.title


def test_the_sample_tables_support_and_names_reach_the_compiled_table(tmp_path: Path) -> None:
    compiled = tmp_path / "routing.json"
    compiled.write_text(compile_routing_file(ROOT / "routing.yaml"), encoding="utf-8")
    table = load_compiled_table(compiled)
    team1, team2 = table.teams["team1"], table.teams["team2"]
    assert (team1.label, team2.label) == ("Fraud analytics", "Churn modelling")
    assert table.support_for(None) == team1.support == table.support
    assert team2.support == replace(table.support, contact="Churn modelling leads (#churn-help)")
