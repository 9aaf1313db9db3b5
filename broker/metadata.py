"""The SP metadata document served at ``GET /saml/metadata``."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from broker.config import ServiceProvider

_BINDING_POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"


def sp_metadata_xml(sp: ServiceProvider) -> str:
    """Metadata an IdP can import: entity id, the one ACS (HTTP-POST), signed assertions wanted.

    Indented, so that it reads well where a browser shows it.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f"entityID={quoteattr(sp.entity_id)}>\n"
        '  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">\n'
        f'    <md:AssertionConsumerService Binding="{_BINDING_POST}" '
        f"Location={quoteattr(sp.acs_url)} index=\"0\" isDefault=\"true\"/>\n"
        "  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n"
    )
