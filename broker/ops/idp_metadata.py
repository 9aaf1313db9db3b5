"""The issuer and signing certificates in an IdP's SAML metadata document.

IAM Identity Center offers each custom SAML application's metadata as a file
("IAM Identity Center SAML metadata file"). python3-saml's own metadata parser
reads it (its XML loader refuses DTDs, so no entity tricks); this module only
turns its answer into what ``routing.yaml`` holds: the ``entityID`` as issuer
and each signing certificate as PEM.
"""

from __future__ import annotations

import base64
import binascii
import textwrap
from dataclasses import dataclass
from pathlib import Path

from broker.exceptions import ConfigurationError


@dataclass(frozen=True)
class IdpMetadata:
    """What the broker needs of an IdP's metadata."""

    issuer: str
    certificates: tuple[str, ...]  # PEM, signing certificates in document order


def read_idp_metadata(path: str | Path) -> IdpMetadata:
    """Parse the metadata file at ``path``; raises :class:`ConfigurationError` naming the file."""
    try:
        text = Path(path).read_bytes()
    except OSError as error:
        raise ConfigurationError([f"{path}: cannot read the metadata file: {error.strerror}"]) from error
    return parse_idp_metadata(text, str(path))


def parse_idp_metadata(document: bytes | str, source: str) -> IdpMetadata:
    """The issuer and signing certificates of a SAML IdP metadata ``document``."""
    from lxml.etree import LxmlError
    from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

    try:
        settings = OneLogin_Saml2_IdPMetadataParser.parse(document)
    except (LxmlError, ValueError) as error:  # not XML; DTDForbidden (a ValueError) and the like
        reason = type(error).__name__
        raise ConfigurationError([f"{source}: not a SAML metadata document ({reason})"]) from error
    idp = settings.get("idp", {})
    issuer = idp.get("entityId")
    if not issuer:
        raise ConfigurationError([f"{source}: no EntityDescriptor with an IDPSSODescriptor and an entityID "
                                  "(is this the IdP's metadata, not the application's SP metadata?)"])
    multi = idp.get("x509certMulti") or {}
    encoded = [idp["x509cert"]] if idp.get("x509cert") else list(multi.get("signing", []))
    if not encoded:
        raise ConfigurationError([f"{source}: the metadata of {issuer} has no signing certificate"])
    return IdpMetadata(issuer=issuer, certificates=tuple(_pem(value, source) for value in encoded))


def _pem(encoded: str, source: str) -> str:
    """A PEM block for the base64 DER of an ``X509Certificate`` element."""
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ConfigurationError([f"{source}: an X509Certificate is not base64"]) from error
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN CERTIFICATE-----\n{body}\n-----END CERTIFICATE-----\n"
