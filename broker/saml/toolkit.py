"""python3-saml 1.16 glue: settings per application, verification of our parsed tree.

python3-saml does the cryptography and the structural rules that stop XML
signature wrapping (one assertion, signature placement, Reference URI equal
to the signed element's ID, schema). It is given only the certificates of the
application named by the issuer, so KeyInfo in the document is never trusted.
"""

from __future__ import annotations

from typing import Any, Final
from urllib.parse import urlsplit

from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as VE
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings

from broker.config import IdpApplication, ServiceProvider
from broker.exceptions import SignInRejected

_REASONS: Final[dict[int, str]] = {
    VE.UNSUPPORTED_SAML_VERSION: "saml_version_unsupported",
    VE.MISSING_ID: "response_id_missing",
    VE.WRONG_NUMBER_OF_ASSERTIONS: "assertion_count",
    VE.MISSING_STATUS: "status_not_success",
    VE.MISSING_STATUS_CODE: "status_not_success",
    VE.STATUS_CODE_IS_NOT_SUCCESS: "status_not_success",
    VE.INVALID_XML_FORMAT: "schema_invalid",
    VE.MISSING_CONDITIONS: "conditions_missing",
    VE.ASSERTION_TOO_EARLY: "not_yet_valid",
    VE.ASSERTION_EXPIRED: "expired",
    VE.WRONG_NUMBER_OF_AUTHSTATEMENTS: "authn_statement_count",
    VE.NO_ATTRIBUTESTATEMENT: "attribute_statement_missing",
    VE.ENCRYPTED_ATTRIBUTES: "encrypted_attributes_unsupported",
    VE.WRONG_DESTINATION: "destination_mismatch",
    VE.EMPTY_DESTINATION: "destination_mismatch",
    VE.WRONG_AUDIENCE: "audience_mismatch",
    VE.ISSUER_MULTIPLE_IN_RESPONSE: "issuer_mismatch",
    VE.ISSUER_NOT_FOUND_IN_ASSERTION: "issuer_missing",
    VE.WRONG_ISSUER: "issuer_mismatch",
    VE.SESSION_EXPIRED: "session_expired",
    VE.WRONG_SUBJECTCONFIRMATION: "subject_confirmation_invalid",
    VE.WRONG_INRESPONSETO: "in_response_to_mismatch",
    VE.NO_SIGNATURE_FOUND: "unsigned",
    VE.NO_SIGNED_ASSERTION: "unsigned",
    VE.NO_SIGNED_MESSAGE: "unsigned",
    VE.INVALID_SIGNATURE: "signature_invalid",
    VE.WRONG_SIGNED_ELEMENT: "signature_structure_invalid",
    VE.ID_NOT_FOUND_IN_SIGNED_ELEMENT: "signature_structure_invalid",
    VE.DUPLICATED_ID_IN_SIGNED_ELEMENTS: "signature_structure_invalid",
    VE.INVALID_SIGNED_ELEMENT: "signature_structure_invalid",
    VE.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS: "signature_structure_invalid",
    VE.UNEXPECTED_SIGNED_ELEMENTS: "signature_structure_invalid",
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE: "signature_structure_invalid",
    VE.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION: "signature_structure_invalid",
    VE.WRONG_NUMBER_OF_SIGNATURES: "signature_structure_invalid",
    VE.DEPRECATED_SIGNATURE_METHOD: "deprecated_algorithm",
    VE.DEPRECATED_DIGEST_METHOD: "deprecated_algorithm",
}


def request_data(acs_url: str) -> dict[str, str]:
    """python3-saml's view of "the URL this request arrived at", from configuration only.

    No ``server_port`` (deprecated in 1.16): a port stays in ``http_host``.
    """
    parts = urlsplit(acs_url)
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
    }


def settings_for(sp: ServiceProvider, application: IdpApplication) -> OneLogin_Saml2_Settings:
    """Strict python3-saml settings that trust only ``application``'s certificates.

    Neither wantAssertionsSigned nor wantMessagesSigned: Identity Center signs
    the assertion, other IdPs sign the response (which covers the assertion
    inside it). python3-saml still requires at least one of the two
    signatures and verifies every signature present.
    """
    if not application.certificates:
        raise ValueError(f"application {application.name!r} has no signing certificate")
    settings: dict[str, Any] = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp.entity_id,
            "assertionConsumerService": {
                "url": sp.acs_url,
                "binding": OneLogin_Saml2_Constants.BINDING_HTTP_POST,
            },
        },
        "idp": {
            "entityId": application.issuer,
            # x509cert too: with it empty python3-saml would look for certs/idp.crt on disk.
            "x509cert": application.certificates[0],
            "x509certMulti": {"signing": list(application.certificates)},
        },
        "security": {
            "wantAssertionsSigned": False,
            "wantMessagesSigned": False,
            "wantAttributeStatement": True,
            "rejectDeprecatedAlgorithm": True,
            "allowRepeatAttributeName": False,
        },
    }
    return OneLogin_Saml2_Settings(settings, sp_validation_only=True)


class ParsedResponse(OneLogin_Saml2_Response):
    """python3-saml's Response over a tree we already parsed with its own hardened parser.

    The base ``__init__`` only base64-decodes, parses and handles encrypted
    assertions (refused before we get here); this sets the same attributes
    without parsing twice. A test pins the attribute set to python3-saml 1.16.
    """

    def __init__(self, settings: OneLogin_Saml2_Settings, xml: bytes, root: etree._Element) -> None:
        self._settings = settings
        self._error = None
        self.response = xml
        self.document = root
        self.decrypted_document = None
        self.encrypted = False
        self.valid_scd_not_on_or_after = None


def verify(
    settings: OneLogin_Saml2_Settings, xml: bytes, root: etree._Element, acs_url: str
) -> None:
    """Run python3-saml's strict validation; any failure is a SignInRejected."""
    response = ParsedResponse(settings, xml, root)
    try:
        response.is_valid(request_data(acs_url), raise_exceptions=True)
    except VE as err:
        raise SignInRejected(_REASONS.get(err.code, "saml_invalid")) from None
    except Exception:
        # e.g. a timestamp python3-saml cannot parse: attacker input, not a broker fault.
        raise SignInRejected("saml_invalid") from None
