"""SAML validation: one test per check, with responses from the signing test IdP.

Responses are built relative to real time (python3-saml checks some times on
its own wall clock); only the broker's injected clock is ever moved.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from types import MappingProxyType

import pytest
from lxml import etree
from onelogin.saml2.response import OneLogin_Saml2_Response

from broker.config import AttributeNames, IdpApplication, RoutingTable, ServiceProvider
from broker.exceptions import (
    BrokerError,
    MalformedRequest,
    NotAuthorised,
    RequestTooLarge,
    SignInRejected,
)
from broker.local.idp import (
    SAML,
    STATUS_RESPONDER,
    SamlIdentityProvider,
    encode,
    generate_signing_identity,
    saml_time,
)
from broker.saml import Identity, SamlValidator
from broker.saml.checks import IDENTITY_NOT_USABLE
from broker.saml.toolkit import ParsedResponse, request_data, settings_for

ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/MTIzNDU2Nzg5MDEy"
OTHER_ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/OTg3NjU0MzIxMDk4"
ACS = "https://abc123.execute-api.eu-west-1.amazonaws.com/prod/saml/acs"
ENTITY = "urn:studio-broker:hub"
MARK = "EVIL-MARKER"  # planted in attacker-controlled values; must never reach a message
SP = ServiceProvider(entity_id=ENTITY, acs_url=ACS, max_body_bytes=64 * 1024)


@pytest.fixture(scope="module")
def idp() -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture(scope="module")
def rotated_idp() -> SamlIdentityProvider:
    """Same issuer, the application's next certificate."""
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture(scope="module")
def stranger_idp() -> SamlIdentityProvider:
    """Same issuer, a key the broker does not trust."""
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture(scope="module")
def other_idp() -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(OTHER_ISSUER)


def application(*certs: str, issuer: str = ISSUER, teams: tuple[str, ...] = ("ds-alpha",)) -> IdpApplication:
    return IdpApplication(
        name=f"app-{issuer[-4:]}", issuer=issuer, certificates=certs, teams=frozenset(teams)
    )


@pytest.fixture(scope="module")
def validator(idp: SamlIdentityProvider, other_idp: SamlIdentityProvider) -> SamlValidator:
    return SamlValidator(
        SP,
        {
            ISSUER: application(idp.cert_pem, teams=("ds-alpha", "teamx", "team")),
            OTHER_ISSUER: application(other_idp.cert_pem, issuer=OTHER_ISSUER, teams=("ds-beta",)),
        },
    )


def build(idp: SamlIdentityProvider, **overrides: object) -> str:
    params: dict[str, object] = {
        "user_id": "alice@example.com",
        "team_id": "ds-alpha",
        "audience": ENTITY,
        "acs_url": ACS,
    }
    params.update(overrides)
    return idp.build_response(**params)  # type: ignore[arg-type]


def rejected(
    validator: SamlValidator,
    payload: str,
    error: type[BrokerError],
    reason: str,
    *,
    encoded: bool = False,
) -> BrokerError:
    """Validate, expect exactly ``error`` with ``reason`` and a public message that echoes nothing."""
    with pytest.raises(BrokerError) as caught:
        validator.validate(payload if encoded else encode(payload))
    err = caught.value
    assert type(err) is error
    assert err.reason == reason
    assert err.public_message == error.public_message
    assert MARK not in err.public_message and MARK not in str(err)
    return err


def edit(xml: str, change: Callable[[etree._Element], None]) -> str:
    root = etree.fromstring(xml.encode())
    change(root)
    return etree.tostring(root, encoding="unicode")


def q(tag: str) -> str:
    return f"{{{SAML}}}{tag}"


# --- accepted ---------------------------------------------------------------


@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_accepts_signed_response(validator: SamlValidator, idp: SamlIdentityProvider, sign: str) -> None:
    now = time.time()
    xml = build(idp, sign=sign, now=now, assertion_id="_a1", assertion_lifetime=300,
                subject_not_on_or_after=now + 200)
    identity = validator.validate(encode(xml))
    assert identity == Identity(
        user_id="alice@example.com",
        team_id="ds-alpha",
        issuer=ISSUER,
        application=f"app-{ISSUER[-4:]}",
        assertion_id="_a1",
        not_on_or_after=pytest.approx(now + 200, abs=0.002),
    )


def test_not_on_or_after_is_the_earlier_of_conditions_and_subject(
    validator: SamlValidator, idp: SamlIdentityProvider
) -> None:
    now = time.time()
    xml = build(idp, now=now, not_on_or_after=now + 100, subject_not_on_or_after=now + 250)
    assert validator.validate(encode(xml)).not_on_or_after == pytest.approx(now + 100, abs=0.002)


def test_accepts_base64_wrapped_in_lines(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    b64 = encode(build(idp))
    wrapped = "\r\n".join(b64[i : i + 76] for i in range(0, len(b64), 76))
    assert validator.validate(wrapped).team_id == "ds-alpha"


def test_accepts_response_without_response_issuer(
    validator: SamlValidator, idp: SamlIdentityProvider
) -> None:
    assert validator.validate(encode(build(idp, response_issuer=None))).issuer == ISSUER


def test_builds_from_routing_table(idp: SamlIdentityProvider) -> None:
    table = RoutingTable(
        source="routing.yaml",
        service_provider=SP,
        applications=MappingProxyType({ISSUER: application(idp.cert_pem)}),
        teams=MappingProxyType({}),
    )
    assert SamlValidator(table).validate(encode(build(idp))).application == f"app-{ISSUER[-4:]}"


def test_custom_attribute_names(idp: SamlIdentityProvider) -> None:
    names = AttributeNames(user="https://aws.amazon.com/SAML/Attributes/RoleSessionName", team="team")
    sp = ServiceProvider(entity_id=ENTITY, acs_url=ACS, attributes=names)
    custom = SamlIdentityProvider(ISSUER, idp.key_pem, idp.cert_pem, attribute_names=names)
    identity = SamlValidator(sp, {ISSUER: application(idp.cert_pem)}).validate(encode(build(custom)))
    assert (identity.user_id, identity.team_id) == ("alice@example.com", "ds-alpha")


# --- issuer and team binding ---------------------------------------------------


def test_unknown_issuer(validator: SamlValidator) -> None:
    unknown = SamlIdentityProvider.generate(OTHER_ISSUER.replace("OTg3", MARK))
    rejected(validator, build(unknown), SignInRejected, "unknown_issuer")


def test_response_and_assertion_issuers_differ(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    rejected(validator, build(idp, response_issuer=OTHER_ISSUER), SignInRejected, "issuer_mismatch")


def test_issuer_picks_certificates_before_verifying(
    validator: SamlValidator, other_idp: SamlIdentityProvider
) -> None:
    """Signed by a trusted application's key, but naming another application's issuer."""
    rejected(validator, build(other_idp, issuer=ISSUER), SignInRejected, "signature_invalid")


def test_team_not_bound_to_application(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    rejected(validator, build(idp, team_id="ds-beta"), NotAuthorised, "team_not_bound_to_application")


# --- Destination, Audience, Recipient -----------------------------------------


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        (None, "destination_missing"),
        ("https://evil.example.com/" + MARK, "destination_mismatch"),
        (ACS + "/" + MARK, "destination_mismatch"),  # python3-saml's prefix match passes this
        (ACS + MARK, "destination_mismatch"),
        (ACS.upper(), "destination_mismatch"),
        ("", "destination_mismatch"),
    ],
)
def test_destination(
    validator: SamlValidator, idp: SamlIdentityProvider, destination: str | None, reason: str
) -> None:
    rejected(validator, build(idp, destination=destination), SignInRejected, reason)


@pytest.mark.parametrize(
    ("audience", "reason"),
    [
        (None, "audience_missing"),
        ([], "audience_missing"),
        ("urn:" + MARK, "audience_mismatch"),
        ([ENTITY, "urn:" + MARK], "audience_mismatch"),
        (ENTITY + MARK, "audience_mismatch"),
    ],
)
def test_audience(
    validator: SamlValidator, idp: SamlIdentityProvider, audience: object, reason: str
) -> None:
    rejected(validator, build(idp, audience=audience), SignInRejected, reason)


def test_every_audience_restriction_must_name_us(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def second_restriction(response: etree._Element) -> None:
        conditions = response.find(f"{q('Assertion')}/{q('Conditions')}")
        restriction = etree.SubElement(conditions, q("AudienceRestriction"))
        etree.SubElement(restriction, q("Audience")).text = "urn:" + MARK

    rejected(validator, build(idp, before_sign=second_restriction), SignInRejected, "audience_mismatch")


@pytest.mark.parametrize(
    ("recipient", "reason"),
    [
        (None, "recipient_missing"),
        ("https://evil.example.com/" + MARK, "recipient_mismatch"),
        ("https://evil.example.com/?" + ACS, "recipient_mismatch"),  # python3-saml's substring match
        (ACS + "/" + MARK, "recipient_mismatch"),
    ],
)
def test_recipient(
    validator: SamlValidator, idp: SamlIdentityProvider, recipient: str | None, reason: str
) -> None:
    rejected(validator, build(idp, recipient=recipient), SignInRejected, reason)


def test_subject_confirmation_must_be_bearer(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def holder_of_key(response: etree._Element) -> None:
        node = response.find(f".//{q('SubjectConfirmation')}")
        node.set("Method", "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key")

    rejected(validator, build(idp, before_sign=holder_of_key), SignInRejected,
             "subject_confirmation_not_bearer")


def in_response_to(where: str) -> Callable[[etree._Element], None]:
    def answer(response: etree._Element) -> None:
        if where in ("response", "both"):
            response.set("InResponseTo", "_request-" + MARK)
        if where in ("subject-confirmation", "both"):
            response.find(f".//{q('SubjectConfirmationData')}").set("InResponseTo", "_request-" + MARK)

    return answer


@pytest.mark.parametrize("where", ["response", "subject-confirmation", "both"])
@pytest.mark.parametrize("sign", ["assertion", "response"])
def test_in_response_to_is_refused_sign_in_is_idp_initiated_only(
    validator: SamlValidator, idp: SamlIdentityProvider, where: str, sign: str
) -> None:
    """Signed as it is: the broker never sent an AuthnRequest, so nothing answers one of ours."""
    xml = build(idp, sign=sign, before_sign=in_response_to(where))
    assert "InResponseTo=" in xml
    rejected(validator, xml, SignInRejected, "in_response_to_unsolicited")


# --- algorithms and signatures ---------------------------------------------------


@pytest.mark.parametrize(
    "algorithms",
    [
        {"signature_algorithm": "sha1"},
        {"digest_algorithm": "sha1"},
        {"signature_algorithm": "sha1", "digest_algorithm": "sha1"},
    ],
)
@pytest.mark.parametrize("sign", ["assertion", "response"])
def test_sha1_rejected(
    validator: SamlValidator, idp: SamlIdentityProvider, algorithms: dict[str, str], sign: str
) -> None:
    rejected(validator, build(idp, sign=sign, **algorithms), SignInRejected, "deprecated_algorithm")


def test_unsigned(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    rejected(validator, build(idp, sign="none"), SignInRejected, "unsigned")


@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_signed_by_untrusted_key_with_its_cert_in_keyinfo(
    validator: SamlValidator, stranger_idp: SamlIdentityProvider, sign: str
) -> None:
    xml = build(stranger_idp, sign=sign)
    assert "X509Certificate" in xml
    rejected(validator, xml, SignInRejected, "signature_invalid")


@pytest.mark.parametrize("sign", ["assertion", "response"])
def test_attribute_altered_after_signing(
    validator: SamlValidator, idp: SamlIdentityProvider, sign: str
) -> None:
    xml = build(idp, sign=sign, team_id="ds-alpha", user_id="alice")
    forged = xml.replace(">alice<", ">mallory<")
    assert forged != xml
    rejected(validator, forged, SignInRejected, "signature_invalid")


def test_unsigned_response_fields_altered_when_only_assertion_signed(
    validator: SamlValidator, idp: SamlIdentityProvider
) -> None:
    """Destination is outside the signed assertion, but our exact check still holds."""
    xml = build(idp).replace(f'Destination="{ACS}"', f'Destination="{ACS}/{MARK}"')
    rejected(validator, xml, SignInRejected, "destination_mismatch")


def two_assertions(where: str) -> Callable[[etree._Element], None]:
    def change(root: etree._Element) -> None:
        original = root.find(q("Assertion"))
        forged = etree.fromstring(etree.tostring(original))
        forged.set("ID", "_forged")
        for sig in forged.findall("{http://www.w3.org/2000/09/xmldsig#}Signature"):
            forged.remove(sig)
        value = forged.find(f".//{q('Attribute')}[@Name='teamid']/{q('AttributeValue')}")
        value.text = "ds-beta"
        if where == "sibling-before":
            original.addprevious(forged)
        elif where == "sibling-after":
            original.addnext(forged)
        else:  # inside the signed assertion's Advice-like spot: wrapped in its Subject
            original.find(q("Subject")).append(forged)

    return change


@pytest.mark.parametrize("where", ["sibling-before", "sibling-after", "nested"])
def test_two_assertions(validator: SamlValidator, idp: SamlIdentityProvider, where: str) -> None:
    rejected(validator, edit(build(idp), two_assertions(where)), SignInRejected, "assertion_count")


def test_certificate_rotation(
    idp: SamlIdentityProvider, rotated_idp: SamlIdentityProvider, stranger_idp: SamlIdentityProvider
) -> None:
    validator = SamlValidator(SP, {ISSUER: application(idp.cert_pem, rotated_idp.cert_pem)})
    assert validator.validate(encode(build(idp))).issuer == ISSUER
    assert validator.validate(encode(build(rotated_idp))).issuer == ISSUER
    rejected(validator, build(stranger_idp), SignInRejected, "signature_invalid")


# --- comments inside values (CVE-2017-11427) -----------------------------------


def test_comment_inserted_after_signing_never_truncates(
    validator: SamlValidator, idp: SamlIdentityProvider
) -> None:
    xml = build(idp, team_id="teamx")
    tampered = xml.replace(">teamx<", ">team<!---->x<")
    assert tampered != xml
    assert validator.validate(encode(tampered)).team_id == "teamx"


def test_comment_signed_by_idp_reads_whole_text(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def comment_in_team(response: etree._Element) -> None:
        value = response.find(f".//{q('Attribute')}[@Name='teamid']/{q('AttributeValue')}")
        value.text = "team"
        comment = etree.Comment("")
        comment.tail = "x"
        value.append(comment)

    xml = build(idp, before_sign=comment_in_team)
    assert "team<!---->x" in xml
    assert validator.validate(encode(xml)).team_id == "teamx"


# --- times -----------------------------------------------------------------------


def with_clock(validator: SamlValidator, offset: float) -> SamlValidator:
    return SamlValidator(SP, {ISSUER: validator._applications[ISSUER]}, clock=lambda: time.time() + offset)


@pytest.mark.parametrize("which", ["issue_instant", "assertion_issue_instant"])
def test_issue_instant_too_old(validator: SamlValidator, idp: SamlIdentityProvider, which: str) -> None:
    old = time.time() - SP.max_assertion_age_seconds - SP.clock_skew_seconds - 5
    rejected(validator, build(idp, **{which: old}), SignInRejected, "issue_instant_too_old")


@pytest.mark.parametrize("which", ["issue_instant", "assertion_issue_instant"])
def test_issue_instant_in_future(validator: SamlValidator, idp: SamlIdentityProvider, which: str) -> None:
    rejected(validator, build(idp, **{which: time.time() + SP.clock_skew_seconds + 5}),
             SignInRejected, "issue_instant_in_future")


def test_issue_instant_within_skew_accepted(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    assert validator.validate(encode(build(idp, issue_instant=time.time() + SP.clock_skew_seconds - 5)))


def test_times_use_injected_clock(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    xml = build(idp)
    rejected(with_clock(validator, SP.max_assertion_age_seconds + SP.clock_skew_seconds + 5),
             xml, SignInRejected, "issue_instant_too_old")
    rejected(with_clock(validator, -SP.clock_skew_seconds - 5), xml, SignInRejected,
             "issue_instant_in_future")


@pytest.mark.parametrize("inside_skew", [True, False])
def test_conditions_expired(validator: SamlValidator, idp: SamlIdentityProvider, inside_skew: bool) -> None:
    now = time.time()
    past = SP.clock_skew_seconds - 20 if inside_skew else SP.clock_skew_seconds + 20
    xml = build(idp, now=now, not_on_or_after=now - past, subject_not_on_or_after=now + 300)
    if inside_skew:
        assert validator.validate(encode(xml)).not_on_or_after == pytest.approx(now - past, abs=0.002)
    else:  # python3-saml alone, with its 300 s drift, would accept this
        rejected(validator, xml, SignInRejected, "expired")


@pytest.mark.parametrize("inside_skew", [True, False])
def test_conditions_not_yet_valid(
    validator: SamlValidator, idp: SamlIdentityProvider, inside_skew: bool
) -> None:
    now = time.time()
    ahead = SP.clock_skew_seconds - 20 if inside_skew else SP.clock_skew_seconds + 20
    xml = build(idp, now=now, not_before=now + ahead)
    if inside_skew:
        assert validator.validate(encode(xml)).team_id == "ds-alpha"
    else:
        rejected(validator, xml, SignInRejected, "not_yet_valid")


def test_subject_confirmation_expired(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    now = time.time()
    xml = build(idp, now=now, subject_not_on_or_after=now - SP.clock_skew_seconds - 5)
    rejected(validator, xml, SignInRejected, "expired")


def test_subject_confirmation_expired_inside_our_skew_is_still_refused_by_python3_saml(
    validator: SamlValidator, idp: SamlIdentityProvider
) -> None:
    """python3-saml times SubjectConfirmationData with no drift on its own clock: the stricter rule wins."""
    now = time.time()
    rejected(validator, build(idp, now=now, subject_not_on_or_after=now - 5), SignInRejected,
             "subject_confirmation_invalid")


def test_subject_confirmation_expiry_required(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    rejected(validator, build(idp, subject_not_on_or_after=None), SignInRejected,
             "subject_confirmation_expiry_missing")


def test_timestamp_with_offset_refused(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def offset(response: etree._Element) -> None:
        response.find(q("Assertion")).set("IssueInstant", saml_time(time.time())[:-1] + "+00:00")

    rejected(validator, build(idp, before_sign=offset), SignInRejected, "timestamp_invalid")


# --- status and attributes --------------------------------------------------------


def test_status_not_success(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    rejected(validator, build(idp, status_code=STATUS_RESPONDER), SignInRejected, "status_not_success")


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"teamid": ["ds-alpha", "ds-beta"]}, "team_attribute_multi_valued"),
        ({"teamid": None}, "team_attribute_missing"),
        ({"teamid": []}, "team_attribute_empty"),
        ({"userid": None}, "user_attribute_missing"),
        ({"userid": ""}, "user_attribute_empty"),
        ({"userid": ["alice", MARK]}, "user_attribute_multi_valued"),
    ],
)
def test_attribute_shape(
    validator: SamlValidator, idp: SamlIdentityProvider, attributes: dict[str, object], reason: str
) -> None:
    rejected(validator, build(idp, attributes=attributes), SignInRejected, reason)


# Each would read as another id in a console or log; str.strip() made most of them alice's.
NOT_USABLE_IDS = [
    pytest.param("alice ", "padded", id="trailing-space"),
    pytest.param(" alice", "padded", id="leading-space"),
    pytest.param("alice\u00a0", "padded", id="trailing-nbsp"),
    pytest.param("\u2003alice", "padded", id="leading-em-space"),
    pytest.param("alice\n", "padded", id="trailing-newline"),
    pytest.param("\talice", "padded", id="leading-tab"),
    pytest.param("alice\r", "padded", id="trailing-carriage-return"),
    pytest.param("alice\u3000", "padded", id="trailing-ideographic-space"),
    pytest.param(" \n\t", "padded", id="only-whitespace"),
    pytest.param("ali\tce", "invisible_character", id="inner-tab"),
    pytest.param("ali\u200bce", "invisible_character", id="inner-zero-width-space"),
    pytest.param("alice\u200d", "invisible_character", id="trailing-zero-width-joiner"),
    pytest.param("\ufeffalice", "invisible_character", id="leading-byte-order-mark"),
    pytest.param("alice\u202egnp.exe", "invisible_character", id="bidi-override"),
    pytest.param("ali\u00adce", "invisible_character", id="soft-hyphen"),
    pytest.param("alice\u2028x", "invisible_character", id="line-separator"),
    pytest.param("alice\u2029x", "invisible_character", id="paragraph-separator"),
    pytest.param("ali\u0085ce", "invisible_character", id="next-line-control"),
]


@pytest.mark.parametrize(("signed", "problem"), NOT_USABLE_IDS)
@pytest.mark.parametrize("kind", ["user", "team"])
def test_id_that_reads_like_another_is_refused_not_stripped(
    validator: SamlValidator, idp: SamlIdentityProvider, signed: str, problem: str, kind: str
) -> None:
    overrides = {"user_id": signed} if kind == "user" else {"team_id": signed.replace("alice", "teamx")}
    with pytest.raises(NotAuthorised) as caught:
        validator.validate(encode(build(idp, **overrides)))
    assert caught.value.reason == f"{kind}_attribute_{problem}"
    assert caught.value.public_message == IDENTITY_NOT_USABLE
    assert caught.value.context == {"application": f"app-{ISSUER[-4:]}"}  # never the value itself


@pytest.mark.parametrize("signed", [
    pytest.param("alice smith", id="inner-space"),
    pytest.param("alice\u00a0smith", id="inner-nbsp"),
    pytest.param("\u0430lice", id="cyrillic-a-homoglyph"),
    pytest.param("e\u0301", id="not-nfc"),
    pytest.param("\ufb01", id="nfkc-would-be-fi"),
    pytest.param("Alice@Example.COM", id="case-kept"),
])
def test_the_user_id_is_the_exact_signed_text(
    validator: SamlValidator, idp: SamlIdentityProvider, signed: str
) -> None:
    """Never stripped, case-folded or normalised: each of these is its own person."""
    assert validator.validate(encode(build(idp, user_id=signed))).user_id == signed


def test_xml_keeps_attribute_text_verbatim(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    """Element text is not whitespace-normalised by the parser or the schema: what was signed arrives."""
    xml = build(idp, user_id="alice\r\n")
    assert "alice&#13;\n<" in xml
    with pytest.raises(NotAuthorised, match="user_attribute_padded"):
        validator.validate(encode(xml))


def test_attribute_repeated(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def repeat_team(response: etree._Element) -> None:
        team = response.find(f".//{q('Attribute')}[@Name='teamid']")
        twin = etree.fromstring(etree.tostring(team))
        twin.find(q("AttributeValue")).text = MARK
        team.addnext(twin)

    rejected(validator, build(idp, before_sign=repeat_team), SignInRejected, "team_attribute_repeated")


def test_attribute_value_with_markup_refused(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def nested(response: etree._Element) -> None:
        value = response.find(f".//{q('Attribute')}[@Name='userid']/{q('AttributeValue')}")
        value.text = "alice"
        # xs:string may not hold elements (schema_invalid); untyped values may.
        del value.attrib["{http://www.w3.org/2001/XMLSchema-instance}type"]
        etree.SubElement(value, q("NameID")).text = MARK

    rejected(validator, build(idp, before_sign=nested), SignInRejected, "user_attribute_not_text")


# --- malformed input ---------------------------------------------------------------


def test_doctype_refused(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    xml = '<!DOCTYPE r [<!ENTITY x "' + MARK + '">]>' + build(idp).replace(">ds-alpha<", ">&x;<")
    rejected(validator, xml, MalformedRequest, "xml_dtd_forbidden")


def test_external_entity_refused(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    xml = '<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + build(idp).replace(
        ">ds-alpha<", ">&x;<"
    )
    rejected(validator, xml, MalformedRequest, "xml_dtd_forbidden")


@pytest.mark.parametrize("payload", ["%%%" + MARK, "YWJj=ZGVm", "", "  \n", "PHg+é"])
def test_garbage_base64(validator: SamlValidator, payload: str) -> None:
    rejected(validator, payload, MalformedRequest, "base64_invalid", encoded=True)


@pytest.mark.parametrize("xml", ["not xml " + MARK, "<a><b></a>", "\x00\x01"])
def test_non_xml(validator: SamlValidator, xml: str) -> None:
    rejected(validator, xml, MalformedRequest, "xml_invalid")


def test_not_a_response(validator: SamlValidator) -> None:
    rejected(validator, f"<{MARK}/>", MalformedRequest, "not_a_saml_response")


def test_oversized(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    xml = build(idp, attributes={"padding": "x" * SP.max_body_bytes})
    rejected(validator, xml, RequestTooLarge, "body_too_large")


def test_encrypted_assertion_refused(validator: SamlValidator, idp: SamlIdentityProvider) -> None:
    def encrypt(response: etree._Element) -> None:
        assertion = response.find(q("Assertion"))
        assertion.addprevious(etree.Element(q("EncryptedAssertion")))
        response.remove(assertion)

    rejected(validator, build(idp, sign="none", before_sign=encrypt), SignInRejected,
             "encrypted_assertion_unsupported")


# --- python3-saml contract -----------------------------------------------------------


def test_parsed_response_sets_what_python3_saml_init_sets(idp: SamlIdentityProvider) -> None:
    """ParsedResponse skips the base __init__: fail loudly if python3-saml's changes."""
    settings = settings_for(SP, application(idp.cert_pem))
    xml = build(idp)
    base = OneLogin_Saml2_Response(settings, encode(xml))
    ours = ParsedResponse(settings, xml.encode(), base.document)
    assert set(vars(ours)) == set(vars(base))


def test_request_data_comes_from_configuration_only() -> None:
    assert request_data("https://broker.example.com:8443/prod/saml/acs") == {
        "https": "on",
        "http_host": "broker.example.com:8443",
        "script_name": "/prod/saml/acs",
    }
    assert request_data("http://localhost:8080/saml/acs")["https"] == "off"


def test_python3_saml_alone_passes_what_we_refuse(idp: SamlIdentityProvider) -> None:
    """Why our checks exist: python3-saml strict accepts these (if this fails, see FACTS.md)."""
    settings = settings_for(SP, application(idp.cert_pem))
    for overrides in (
        {"destination": ACS + "/evil"},
        {"destination": None},
        {"audience": None},
        {"recipient": None},
        {"recipient": "https://evil.example.com/?" + ACS},
    ):
        response = OneLogin_Saml2_Response(settings, encode(build(idp, **overrides)))
        assert response.is_valid(request_data(ACS), raise_exceptions=True), overrides


def test_generated_identity_is_a_pem_pair() -> None:
    key_pem, cert_pem = generate_signing_identity(common_name="idp.local", days=2, key_size=2048)
    assert key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert cert_pem.startswith("-----BEGIN CERTIFICATE-----")
    assert base64.b64decode(encode("<x/>")) == b"<x/>"
