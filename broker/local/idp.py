"""A signing SAML IdP that answers like AWS IAM Identity Center.

Used by the tests, the local dev IdP and the benchmark; never by the runtime.
Every knob a test needs to forge a wrong response is a keyword argument of
:meth:`SamlIdentityProvider.build_response`, so adversarial tests read as data.
Responses are built as lxml trees (values are escaped by lxml, never pasted
into a string template) and signed with xmlsec (exclusive c14n, enveloped).
"""

from __future__ import annotations

import base64
import datetime as dt
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Final, Literal, TypeVar

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from lxml import etree

from broker.config import AttributeNames

SAMLP: Final = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML: Final = "urn:oasis:names:tc:SAML:2.0:assertion"
XS: Final = "http://www.w3.org/2001/XMLSchema"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"

STATUS_SUCCESS: Final = "urn:oasis:names:tc:SAML:2.0:status:Success"
STATUS_RESPONDER: Final = "urn:oasis:names:tc:SAML:2.0:status:Responder"
CM_BEARER: Final = "urn:oasis:names:tc:SAML:2.0:cm:bearer"
NAMEID_EMAIL: Final = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
NAMEID_PERSISTENT: Final = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
ATTRNAME_UNSPECIFIED: Final = "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified"
AC_PASSWORD_PROTECTED: Final = (
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
)

Signing = Literal["assertion", "response", "both", "none"]
Algorithm = Literal["sha256", "sha1"]


class _Default:
    """Marker: "use the IdP's normal value" (``None`` means "leave the element out")."""

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Final = _Default()

_SIGN_TRANSFORMS = {"sha256": xmlsec.Transform.RSA_SHA256, "sha1": xmlsec.Transform.RSA_SHA1}
_DIGEST_TRANSFORMS = {"sha256": xmlsec.Transform.SHA256, "sha1": xmlsec.Transform.SHA1}

AttributeValue = str | Sequence[str] | None
T = TypeVar("T")


def generate_signing_identity(
    common_name: str = "amazonaws.com", days: int = 365, key_size: int = 2048
) -> tuple[str, str]:
    """A fresh RSA key and self-signed certificate, as Identity Center makes per application.

    Returns ``(key_pem, cert_pem)``.
    """
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return key_pem, cert.public_bytes(serialization.Encoding.PEM).decode()


def encode(xml: str) -> str:
    """Base64 of the UTF-8 XML: the value of the ``SAMLResponse`` form field."""
    return base64.b64encode(xml.encode()).decode()


def saml_time(epoch: float) -> str:
    """SAML ``xs:dateTime`` in UTC with milliseconds, as Identity Center writes it."""
    moment = dt.datetime.fromtimestamp(epoch, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _new_id() -> str:
    return "_" + str(uuid.uuid4())


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


class SamlIdentityProvider:
    """An IdP application with its own issuer and signing key.

    ``issuer`` plays one Identity Center application's issuer URL; the key and
    certificate come from :func:`generate_signing_identity`.
    """

    def __init__(
        self,
        issuer: str,
        key_pem: str,
        cert_pem: str,
        attribute_names: AttributeNames | None = None,
        session_duration_seconds: int = 3600,
    ) -> None:
        self.issuer = issuer
        self.key_pem = key_pem
        self.cert_pem = cert_pem
        self.attribute_names = attribute_names or AttributeNames()
        self.session_duration_seconds = session_duration_seconds
        # Loading the PEM key is the slow part of signing: do it once.
        self._key = xmlsec.Key.from_memory(key_pem.encode(), xmlsec.KeyFormat.PEM, None)
        self._key.load_cert_from_memory(cert_pem.encode(), xmlsec.KeyFormat.CERT_PEM)

    @classmethod
    def generate(cls, issuer: str, **kwargs: object) -> SamlIdentityProvider:
        """An IdP with a freshly generated key pair."""
        key_pem, cert_pem = generate_signing_identity()
        return cls(issuer, key_pem, cert_pem, **kwargs)  # type: ignore[arg-type]

    def build_response(
        self,
        *,
        user_id: str,
        team_id: str,
        audience: str | Sequence[str] | None,
        acs_url: str,
        now: float | None = None,
        assertion_lifetime: int = 300,
        sign: Signing = "assertion",
        signature_algorithm: Algorithm = "sha256",
        digest_algorithm: Algorithm = "sha256",
        attributes: Mapping[str, AttributeValue] | None = None,
        destination: str | None | _Default = DEFAULT,
        recipient: str | None | _Default = DEFAULT,
        issuer: str | _Default = DEFAULT,
        response_issuer: str | None | _Default = DEFAULT,
        status_code: str = STATUS_SUCCESS,
        not_before: float | None | _Default = DEFAULT,
        not_on_or_after: float | None | _Default = DEFAULT,
        subject_not_on_or_after: float | None | _Default = DEFAULT,
        issue_instant: float | None = None,
        assertion_issue_instant: float | None = None,
        name_id: str | None = None,
        name_id_format: str = NAMEID_EMAIL,
        response_id: str | None = None,
        assertion_id: str | None = None,
        before_sign: Callable[[etree._Element], None] | None = None,
    ) -> str:
        """A SAML Response as Identity Center posts it, as an XML string.

        ``audience`` may be one value, several, or ``None`` (no
        AudienceRestriction). ``attributes`` overrides the default
        ``{userid: user_id, teamid: team_id}`` by name: a list gives several
        values, ``None`` leaves the attribute out. For ``destination``,
        ``recipient``, ``response_issuer``, ``not_before``, ``not_on_or_after``
        and ``subject_not_on_or_after`` ``None`` leaves the XML attribute or
        element out. ``issue_instant`` sets both IssueInstants unless
        ``assertion_issue_instant`` is given. ``before_sign`` may edit the tree
        (the Response element) just before signing.
        """
        now = time.time() if now is None else now
        issued = now if issue_instant is None else issue_instant
        assertion_issued = issued if assertion_issue_instant is None else assertion_issue_instant
        expiry = now + assertion_lifetime
        conditions_expiry = _pick(not_on_or_after, expiry)
        assertion_id = assertion_id or _new_id()

        response = etree.Element(_q(SAMLP, "Response"), nsmap={"saml2p": SAMLP})
        _set_optional(response, "Destination", _pick(destination, acs_url))
        response.set("ID", response_id or _new_id())
        response.set("IssueInstant", saml_time(issued))
        response.set("Version", "2.0")
        response_issuer_value = _pick(response_issuer, _pick(issuer, self.issuer))
        if response_issuer_value is not None:
            _issuer(response, response_issuer_value)
        status = etree.SubElement(response, _q(SAMLP, "Status"))
        etree.SubElement(status, _q(SAMLP, "StatusCode")).set("Value", status_code)

        assertion = etree.SubElement(response, _q(SAML, "Assertion"), nsmap={"saml2": SAML})
        assertion.set("ID", assertion_id)
        assertion.set("IssueInstant", saml_time(assertion_issued))
        assertion.set("Version", "2.0")
        _issuer(assertion, _pick(issuer, self.issuer))

        subject = etree.SubElement(assertion, _q(SAML, "Subject"))
        name = etree.SubElement(subject, _q(SAML, "NameID"))
        name.set("Format", name_id_format)
        name.text = user_id if name_id is None else name_id
        confirmation = etree.SubElement(subject, _q(SAML, "SubjectConfirmation"))
        confirmation.set("Method", CM_BEARER)
        data = etree.SubElement(confirmation, _q(SAML, "SubjectConfirmationData"))
        scd_expiry = _pick(subject_not_on_or_after, conditions_expiry or expiry)
        _set_optional(data, "NotOnOrAfter", None if scd_expiry is None else saml_time(scd_expiry))
        _set_optional(data, "Recipient", _pick(recipient, acs_url))

        conditions = etree.SubElement(assertion, _q(SAML, "Conditions"))
        start = _pick(not_before, now)
        _set_optional(conditions, "NotBefore", None if start is None else saml_time(start))
        _set_optional(
            conditions,
            "NotOnOrAfter",
            None if conditions_expiry is None else saml_time(conditions_expiry),
        )
        if audience is not None:
            restriction = etree.SubElement(conditions, _q(SAML, "AudienceRestriction"))
            for value in [audience] if isinstance(audience, str) else audience:
                etree.SubElement(restriction, _q(SAML, "Audience")).text = value

        authn = etree.SubElement(assertion, _q(SAML, "AuthnStatement"))
        authn.set("AuthnInstant", saml_time(now))
        authn.set("SessionIndex", _new_id())
        authn.set("SessionNotOnOrAfter", saml_time(now + self.session_duration_seconds))
        context = etree.SubElement(authn, _q(SAML, "AuthnContext"))
        etree.SubElement(context, _q(SAML, "AuthnContextClassRef")).text = AC_PASSWORD_PROTECTED

        values: dict[str, AttributeValue] = {
            self.attribute_names.user: user_id,
            self.attribute_names.team: team_id,
        }
        values.update(attributes or {})
        statement = etree.SubElement(assertion, _q(SAML, "AttributeStatement"))
        for attr_name, attr_value in values.items():
            if attr_value is not None:
                _attribute(statement, attr_name, attr_value)

        if before_sign is not None:
            before_sign(response)
        if sign in ("assertion", "both"):
            self._sign(assertion, signature_algorithm, digest_algorithm)
        if sign in ("response", "both"):
            self._sign(response, signature_algorithm, digest_algorithm)
        return etree.tostring(response, encoding="unicode")

    def encode(self, xml: str) -> str:
        """Base64 form-field value of ``xml`` (see :func:`encode`)."""
        return encode(xml)

    def _sign(self, element: etree._Element, signature_alg: Algorithm, digest_alg: Algorithm) -> None:
        """Enveloped signature placed right after the element's Issuer, as SAML's schema wants."""
        signature = xmlsec.template.create(
            element, xmlsec.Transform.EXCL_C14N, _SIGN_TRANSFORMS[signature_alg], ns="ds"
        )
        issuer = element.find(_q(SAML, "Issuer"))
        if issuer is not None:
            issuer.addnext(signature)
        else:
            element.insert(0, signature)
        reference = xmlsec.template.add_reference(
            signature, _DIGEST_TRANSFORMS[digest_alg], uri="#" + element.get("ID")
        )
        xmlsec.template.add_transform(reference, xmlsec.Transform.ENVELOPED)
        xmlsec.template.add_transform(reference, xmlsec.Transform.EXCL_C14N)
        xmlsec.template.add_x509_data(xmlsec.template.ensure_key_info(signature))
        xmlsec.tree.add_ids(element, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = self._key
        context.sign(signature)


def _pick(value: T | _Default, default: T) -> T:
    return default if isinstance(value, _Default) else value


def _set_optional(element: etree._Element, name: str, value: object) -> None:
    if value is not None:
        element.set(name, str(value))


def _issuer(parent: etree._Element, value: str) -> None:
    # Identity Center declares saml2 on the Response's Issuer itself.
    etree.SubElement(parent, _q(SAML, "Issuer"), nsmap={"saml2": SAML}).text = value


def _attribute(statement: etree._Element, name: str, value: str | Sequence[str]) -> None:
    attribute = etree.SubElement(statement, _q(SAML, "Attribute"))
    attribute.set("Name", name)
    attribute.set("NameFormat", ATTRNAME_UNSPECIFIED)
    for item in [value] if isinstance(value, str) else value:
        node = etree.SubElement(attribute, _q(SAML, "AttributeValue"), nsmap={"xs": XS, "xsi": XSI})
        node.set(_q(XSI, "type"), "xs:string")
        node.text = item
