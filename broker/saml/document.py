"""Decoding, hardened parsing and structural reading of a posted SAML Response.

The document is parsed once, with python3-saml's own hardened parser (no DTD,
no entities, no network, comments and processing instructions dropped), and
the same tree is later handed to python3-saml for signature verification, so
what we read is exactly what was verified.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import Final

from lxml import etree
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML
from onelogin.saml2.xmlparser import DTDForbidden, EntitiesForbidden, NotSupportedError

from broker.exceptions import MalformedRequest, RequestTooLarge, SignInRejected

SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"

RESPONSE: Final = f"{{{SAMLP}}}Response"
STATUS_CODE: Final = f"{{{SAMLP}}}Status/{{{SAMLP}}}StatusCode"
ASSERTION: Final = f"{{{SAML}}}Assertion"
ENCRYPTED_ASSERTION: Final = f"{{{SAML}}}EncryptedAssertion"
ISSUER: Final = f"{{{SAML}}}Issuer"

_WHITESPACE = str.maketrans("", "", " \t\r\n")


def decode_response(saml_response_b64: str, max_bytes: int) -> bytes:
    """The XML bytes of a base64 ``SAMLResponse`` field, bounded by ``max_bytes``."""
    if len(saml_response_b64) > max_bytes:
        raise RequestTooLarge("body_too_large")
    # Some IdPs wrap base64 at 76 columns; anything else outside the alphabet is refused.
    compact = saml_response_b64.translate(_WHITESPACE)
    try:
        xml = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedRequest("base64_invalid") from None
    if not xml:
        raise MalformedRequest("base64_invalid")
    return xml


def parse_xml(xml: bytes) -> etree._Element:
    """Parse with python3-saml's hardened parser; refuse DTDs and entity declarations."""
    try:
        return OneLogin_Saml2_XML.to_etree(xml)
    except (DTDForbidden, EntitiesForbidden, NotSupportedError):
        raise MalformedRequest("xml_dtd_forbidden") from None
    except (etree.XMLSyntaxError, ValueError):
        raise MalformedRequest("xml_invalid") from None


def parse_saml_time(value: str | None) -> float | None:
    """Epoch seconds of a SAML ``xs:dateTime`` in UTC (``...Z``); ``None`` if absent."""
    if value is None:
        return None
    # SAML core 1.3.3: times are UTC with no offset; the SAML "Z" suffix is the only form accepted.
    if not value.endswith("Z"):
        raise SignInRejected("timestamp_invalid")
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise SignInRejected("timestamp_invalid") from None
    if moment.utcoffset() != dt.timedelta(0):
        raise SignInRejected("timestamp_invalid")
    return moment.timestamp()


def text_of(element: etree._Element) -> str | None:
    """Text of a leaf element; ``None`` when it has element children (never a partial read)."""
    if len(element):
        return None
    return element.text or ""


@dataclass(frozen=True)
class ResponseDocument:
    """A parsed Response with exactly one plain assertion, read structurally."""

    root: etree._Element
    assertion: etree._Element

    @classmethod
    def from_xml(cls, xml: bytes) -> ResponseDocument:
        """Parse and check the outer shape: a successful Response with exactly one Assertion."""
        root = parse_xml(xml)
        if root.tag != RESPONSE:
            raise MalformedRequest("not_a_saml_response")
        status = root.find(STATUS_CODE)
        if status is None or status.get("Value") != STATUS_SUCCESS:
            raise SignInRejected("status_not_success")
        if next(root.iter(ENCRYPTED_ASSERTION), None) is not None:
            raise SignInRejected("encrypted_assertion_unsupported")
        # Counted over the whole tree, not just children: an assertion smuggled
        # anywhere (Extensions, Advice, a wrapper) is a signature-wrapping attempt.
        assertions = list(root.iter(ASSERTION))
        if len(assertions) != 1 or assertions[0].getparent() is not root:
            raise SignInRejected("assertion_count")
        return cls(root, assertions[0])

    def issuer(self) -> str:
        """The one issuer that both the Assertion and (if present) the Response name."""
        assertion_issuers = self.assertion.findall(ISSUER)
        if len(assertion_issuers) != 1:
            raise SignInRejected("issuer_missing")
        issuer = text_of(assertion_issuers[0])
        if not issuer:
            raise SignInRejected("issuer_missing")
        response_issuers = self.root.findall(ISSUER)
        if len(response_issuers) > 1:
            raise SignInRejected("issuer_mismatch")
        if response_issuers and text_of(response_issuers[0]) != issuer:
            raise SignInRejected("issuer_mismatch")
        return issuer
