"""The signature profile the broker enforces before xmlsec runs (broker/saml/signature_profile.py).

Found by the corpus: python3-saml 1.16 checks only the first Reference of a
signature and allows any transform, and xmlsec runs a Reference's transforms
before it checks the SignatureValue, so an unsigned request could make the
broker execute an XSLT stylesheet of its choosing.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from lxml import etree

from broker.config import IdpApplication, ServiceProvider
from broker.exceptions import SignInRejected
from broker.local.idp import SamlIdentityProvider, encode
from broker.saml import SamlValidator, toolkit
from broker.saml.document import ResponseDocument
from broker.saml.signature_profile import EXC_C14N, check_signature_profile
from tests.adversarial import forge

ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/PROFILE"
ACS = "https://broker.example.com/prod/saml/acs"
ENTITY = "urn:example:studio-broker"
SP = ServiceProvider(entity_id=ENTITY, acs_url=ACS)


@pytest.fixture(scope="module")
def idp() -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture(scope="module")
def validator(idp: SamlIdentityProvider) -> SamlValidator:
    return SamlValidator(SP, {ISSUER: IdpApplication("app", ISSUER, (idp.cert_pem,), frozenset({"team1"}))})


def build(idp: SamlIdentityProvider, **overrides: object) -> str:
    return idp.build_response(user_id="user1", team_id="team1", audience=ENTITY, acs_url=ACS,
                              **overrides)  # type: ignore[arg-type]


def document(xml: str) -> ResponseDocument:
    return ResponseDocument.from_xml(xml.encode())


@pytest.mark.parametrize("sign", ["assertion", "response", "both"])
def test_genuine_signatures_fit_the_profile(idp: SamlIdentityProvider, sign: str) -> None:
    check_signature_profile(document(build(idp, sign=sign)))


def test_exclusive_c14n_may_name_inclusive_namespaces(idp: SamlIdentityProvider) -> None:
    """Some IdPs write <ec:InclusiveNamespaces PrefixList="xs"/> in their exc-c14n transform."""
    root = forge.tree(build(idp))
    for transform in root.iter(f"{{{forge.DS}}}Transform"):
        if transform.get("Algorithm") == EXC_C14N:
            etree.SubElement(transform, f"{{{EXC_C14N}}}InclusiveNamespaces", PrefixList="xs")
    check_signature_profile(document(forge.text(root)))


def _stylesheet_with_message(marker: str) -> etree._Element:
    xsl = "http://www.w3.org/1999/XSL/Transform"
    return etree.XML(f'<xsl:stylesheet xmlns:xsl="{xsl}" version="1.0"><xsl:template match="/">'
                     f'<xsl:message terminate="no">{marker}</xsl:message></xsl:template></xsl:stylesheet>')


def test_python3_saml_alone_runs_a_senders_stylesheet(
    idp: SamlIdentityProvider, capfd: pytest.CaptureFixture[str],
) -> None:
    """Pins the upstream behaviour the profile exists for; if it changes, revisit the profile."""
    xml = forge.extra_transform(build(idp), forge.XSLT, _stylesheet_with_message("RAN-SENDERS-XSLT"))
    doc = document(xml)
    settings = toolkit.settings_for(SP, IdpApplication("app", ISSUER, (idp.cert_pem,), frozenset()))
    with pytest.raises(SignInRejected):
        toolkit.verify(settings, xml.encode(), doc.root, ACS)
    assert "RAN-SENDERS-XSLT" in capfd.readouterr().err


def test_the_broker_never_runs_it(
    validator: SamlValidator, idp: SamlIdentityProvider, capfd: pytest.CaptureFixture[str],
) -> None:
    xml = forge.extra_transform(build(idp), forge.XSLT, _stylesheet_with_message("RAN-SENDERS-XSLT"))
    with pytest.raises(SignInRejected) as caught:
        validator.validate(encode(xml))
    assert caught.value.reason == "signature_algorithm_not_allowed"
    assert "RAN-SENDERS-XSLT" not in capfd.readouterr().err


def test_an_exponential_stylesheet_is_refused_at_once(
    validator: SamlValidator, idp: SamlIdentityProvider,
) -> None:
    # 2**24 template calls: about half a minute of CPU if it ever ran.
    xml = forge.extra_transform(build(idp), forge.XSLT, forge.exponential_stylesheet(24))
    started = time.perf_counter()
    with pytest.raises(SignInRejected):
        validator.validate(encode(xml))
    assert time.perf_counter() - started < 1.0


def _edit_signed_info(change: str) -> Callable[[etree._Element], None]:
    def apply(root: etree._Element) -> None:
        info = forge.signed_info(root)
        reference = info.find(f"{{{forge.DS}}}Reference")
        if change == "c14n-xslt":
            info[0].set("Algorithm", forge.XSLT)
        elif change == "hmac":
            info[1].set("Algorithm", "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
        elif change == "md5-digest":
            reference.find(f"{{{forge.DS}}}DigestMethod").set(
                "Algorithm", "http://www.w3.org/2001/04/xmldsig-more#md5")
        elif change == "four-transforms":
            transforms = reference.find(f"{{{forge.DS}}}Transforms")
            for _ in range(2):
                transforms.append(etree.fromstring(etree.tostring(transforms[-1])))
        elif change == "digest-method-with-child":
            etree.SubElement(reference.find(f"{{{forge.DS}}}DigestMethod"), "x")
        elif change == "reference-uri-missing":
            del reference.attrib["URI"]
        elif change == "reference-with-xpointer":
            reference.set("URI", "#xpointer(/)")
        elif change == "two-signed-infos":
            info.addnext(etree.fromstring(etree.tostring(info)))
    return apply


@pytest.mark.parametrize(("change", "reason"), [
    ("c14n-xslt", "signature_algorithm_not_allowed"),
    ("hmac", "signature_algorithm_not_allowed"),
    ("md5-digest", "signature_algorithm_not_allowed"),
    ("four-transforms", "signature_structure_invalid"),
    ("digest-method-with-child", "signature_structure_invalid"),
    ("reference-uri-missing", "signature_structure_invalid"),
    ("reference-with-xpointer", "signature_structure_invalid"),
    ("two-signed-infos", "signature_structure_invalid"),
])
def test_signatures_outside_the_profile_are_refused(
    idp: SamlIdentityProvider, change: str, reason: str,
) -> None:
    xml = forge.edited(build(idp), _edit_signed_info(change))
    with pytest.raises(SignInRejected) as caught:
        check_signature_profile(document(xml))
    assert caught.value.reason == reason


def test_two_signatures_on_one_element_are_refused(idp: SamlIdentityProvider) -> None:
    def twice(root: etree._Element) -> None:
        signature = forge.assertion_of(root).find(forge.SIGNATURE)
        signature.addnext(etree.fromstring(etree.tostring(signature)))

    with pytest.raises(SignInRejected) as caught:
        check_signature_profile(document(forge.edited(build(idp), twice)))
    assert caught.value.reason == "signature_structure_invalid"
