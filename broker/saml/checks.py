"""The checks python3-saml leaves loose or to us, made exact against our configuration.

python3-saml passes a missing Destination, Audience or Recipient, matches
Destination by prefix and Recipient by substring, and times Conditions with a
fixed 300 s drift against its own clock. Here each is exact, required, and
timed with the service provider's ``clock_skew_seconds`` against the injected
clock. These functions only read the tree; every failure is a
:class:`~broker.exceptions.SignInRejected` with a fixed ``reason`` (a
:class:`~broker.exceptions.NotAuthorised` for a signed id the broker will not use).
"""

from __future__ import annotations

import unicodedata
from typing import Final

from lxml import etree

from broker.config import ServiceProvider
from broker.exceptions import NotAuthorised, SignInRejected
from broker.saml.document import SAML, ResponseDocument, parse_saml_time, text_of

CM_BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"

CONDITIONS: Final = f"{{{SAML}}}Conditions"
AUDIENCE_RESTRICTION: Final = f"{{{SAML}}}AudienceRestriction"
AUDIENCE: Final = f"{{{SAML}}}Audience"
SUBJECT: Final = f"{{{SAML}}}Subject"
NAME_ID: Final = f"{{{SAML}}}NameID"
SUBJECT_CONFIRMATION: Final = f"{{{SAML}}}SubjectConfirmation"
SUBJECT_CONFIRMATION_DATA: Final = f"{{{SAML}}}SubjectConfirmationData"
AUTHN_STATEMENT: Final = f"{{{SAML}}}AuthnStatement"
ATTRIBUTE_STATEMENT: Final = f"{{{SAML}}}AttributeStatement"
ATTRIBUTE: Final = f"{{{SAML}}}Attribute"
ATTRIBUTE_VALUE: Final = f"{{{SAML}}}AttributeValue"

_INVISIBLE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
IDENTITY_NOT_USABLE: Final = (
    "The user or team id your access portal sent has spaces at its start or end, or invisible or "
    "control characters, so the Studio broker cannot tell it apart from another person's. "
    "Contact the platform team with the reference below."
)


def check_destination(document: ResponseDocument, sp: ServiceProvider) -> None:
    """Destination is present and exactly our ACS URL."""
    destination = document.root.get("Destination")
    if destination is None:
        raise SignInRejected("destination_missing")
    if destination != sp.acs_url:
        raise SignInRejected("destination_mismatch")


def conditions_of(assertion: etree._Element) -> etree._Element:
    """The assertion's single Conditions element."""
    conditions = assertion.findall(CONDITIONS)
    if len(conditions) != 1:
        raise SignInRejected("conditions_missing")
    return conditions[0]


def check_audience(assertion: etree._Element, sp: ServiceProvider) -> None:
    """At least one AudienceRestriction, and each names exactly our entity id.

    Several AudienceRestrictions must all hold (SAML core 2.5.1.4), so each
    one must name us; an extra audience beside ours is refused too, since
    an assertion meant for several relying parties is not meant for a broker.
    """
    restrictions = conditions_of(assertion).findall(AUDIENCE_RESTRICTION)
    if not restrictions:
        raise SignInRejected("audience_missing")
    for restriction in restrictions:
        audiences = [text_of(node) for node in restriction.findall(AUDIENCE)]
        if not audiences:
            raise SignInRejected("audience_missing")
        if audiences != [sp.entity_id]:
            raise SignInRejected("audience_mismatch")


def subject_of(assertion: etree._Element) -> etree._Element:
    """The assertion's single Subject."""
    subjects = assertion.findall(SUBJECT)
    if len(subjects) != 1:
        raise SignInRejected("subject_missing")
    return subjects[0]


def bearer_confirmation(assertion: etree._Element, sp: ServiceProvider) -> etree._Element:
    """The one bearer SubjectConfirmationData, whose Recipient is exactly our ACS URL."""
    confirmations = subject_of(assertion).findall(SUBJECT_CONFIRMATION)
    if len(confirmations) != 1:
        raise SignInRejected("subject_confirmation_invalid")
    if confirmations[0].get("Method") != CM_BEARER:
        raise SignInRejected("subject_confirmation_not_bearer")
    data = confirmations[0].findall(SUBJECT_CONFIRMATION_DATA)
    if len(data) != 1:
        raise SignInRejected("subject_confirmation_invalid")
    recipient = data[0].get("Recipient")
    if recipient is None:
        raise SignInRejected("recipient_missing")
    if recipient != sp.acs_url:
        raise SignInRejected("recipient_mismatch")
    return data[0]


def check_unsolicited(document: ResponseDocument, confirmation_data: etree._Element) -> None:
    """No InResponseTo on the Response or the bearer SubjectConfirmationData.

    Sign-in is IdP-initiated only: the broker never sends an AuthnRequest, so
    a response "in response to" one answers a request someone else made (for
    another service provider, or an attacker's), and python3-saml checks
    InResponseTo only against a request id it is given.
    """
    for element in (document.root, confirmation_data):
        if element.get("InResponseTo") is not None:
            raise SignInRejected("in_response_to_unsolicited")


def check_times(
    document: ResponseDocument,
    confirmation_data: etree._Element,
    sp: ServiceProvider,
    now: float,
) -> float:
    """Check every time in the response on our clock; return the earliest NotOnOrAfter.

    ``clock_skew_seconds`` is allowed in both directions on every bound. The
    age limit applies to both IssueInstants (Response and Assertion).
    """
    skew = sp.clock_skew_seconds
    for element in (document.root, document.assertion):
        issued = parse_saml_time(element.get("IssueInstant"))
        if issued is None:
            raise SignInRejected("issue_instant_missing")
        if issued > now + skew:
            raise SignInRejected("issue_instant_in_future")
        if now - issued > sp.max_assertion_age_seconds + skew:
            raise SignInRejected("issue_instant_too_old")

    conditions = conditions_of(document.assertion)
    conditions_end = _check_window(conditions, now, skew)
    confirmation_end = _check_window(confirmation_data, now, skew)
    # The Web SSO profile requires it on a bearer confirmation; it also bounds the replay cache.
    if confirmation_end is None:
        raise SignInRejected("subject_confirmation_expiry_missing")

    for statement in document.assertion.findall(AUTHN_STATEMENT):
        session_end = parse_saml_time(statement.get("SessionNotOnOrAfter"))
        if session_end is not None and session_end <= now - skew:
            raise SignInRejected("session_expired")

    return confirmation_end if conditions_end is None else min(conditions_end, confirmation_end)


def _check_window(element: etree._Element, now: float, skew: int) -> float | None:
    not_before = parse_saml_time(element.get("NotBefore"))
    not_on_or_after = parse_saml_time(element.get("NotOnOrAfter"))
    if not_before is not None and not_before > now + skew:
        raise SignInRejected("not_yet_valid")
    if not_on_or_after is not None and not_on_or_after <= now - skew:
        raise SignInRejected("expired")
    return not_on_or_after


def single_attribute(assertion: etree._Element, name: str, kind: str) -> str:
    """The one non-empty text value of attribute ``name``, exactly as signed; reasons are
    prefixed ``kind``.

    Matched by Name only (prefixes and NameFormat differ between IdPs).
    Comments were dropped by the parser, so ``team<!---->x`` reads as the
    whole signed text ``teamx``, never as ``team`` (CVE-2017-11427). Nothing
    is stripped or normalised: ``alice `` is not ``alice`` (see :func:`check_identity_text`).
    """
    matches = [
        attribute
        for statement in assertion.findall(ATTRIBUTE_STATEMENT)
        for attribute in statement.findall(ATTRIBUTE)
        if attribute.get("Name") == name
    ]
    if not matches:
        raise SignInRejected(f"{kind}_attribute_missing")
    if len(matches) > 1:
        raise SignInRejected(f"{kind}_attribute_repeated")
    values = matches[0].findall(ATTRIBUTE_VALUE)
    if not values:
        raise SignInRejected(f"{kind}_attribute_empty")
    if len(values) > 1:
        raise SignInRejected(f"{kind}_attribute_multi_valued")
    text = text_of(values[0])
    if text is None:
        raise SignInRejected(f"{kind}_attribute_not_text")
    if not text:
        raise SignInRejected(f"{kind}_attribute_empty")
    check_identity_text(text, kind)
    return text


def check_identity_text(text: str, kind: str) -> None:
    """Refuse a signed id that reads like another: padded, or with invisible or control characters.

    The id is used verbatim (profile name, SourceIdentity, User tag), so
    ``alice\u00a0`` would get a profile of its own, but it would look like
    alice's in every console and log. Refused instead: leading or trailing
    whitespace (``str.isspace`` or category Zs), and anywhere a control (Cc),
    format (Cf: zero-width, bidi, BOM), line or paragraph separator (Zl, Zp)
    or surrogate (Cs). Never normalised (NFC/NFKC would map two signed ids to
    one person); homoglyphs stay distinct ids with distinct names.
    """
    if _padding(text[0]) or _padding(text[-1]):
        raise NotAuthorised(f"{kind}_attribute_padded", IDENTITY_NOT_USABLE)
    if any(unicodedata.category(char) in _INVISIBLE_CATEGORIES for char in text):
        raise NotAuthorised(f"{kind}_attribute_invisible_character", IDENTITY_NOT_USABLE)


def _padding(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Zs"
