"""The only XML signatures the broker lets xmlsec see: plain enveloped SAML signatures.

xmlsec runs a Reference's transforms, XSLT and XPath included, and resolves
its URI while computing the digest, before it knows whether the
SignatureValue is good; python3-saml looks only at the first Reference of
each signature and allows any transform. So an unsigned request could make
the broker run a stylesheet of the sender's choosing (an exponential
template costs seconds of CPU per request and can reach the Lambda timeout).
Every ``ds:Signature`` is therefore checked here, on the parsed tree, before
any signature is verified: on the Response or the Assertion, at most one
each; SignedInfo with one Reference to its parent's own ID; only the
canonicalisation and enveloped-signature transforms; allowlisted algorithms;
no ``ds:Object`` (and so no Manifest).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from broker.exceptions import SignInRejected
from broker.saml.document import ResponseDocument

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"

SIGNATURE: Final = f"{{{DS}}}Signature"
SIGNED_INFO: Final = f"{{{DS}}}SignedInfo"
SIGNATURE_VALUE: Final = f"{{{DS}}}SignatureValue"
KEY_INFO: Final = f"{{{DS}}}KeyInfo"
C14N_METHOD: Final = f"{{{DS}}}CanonicalizationMethod"
SIGNATURE_METHOD: Final = f"{{{DS}}}SignatureMethod"
REFERENCE: Final = f"{{{DS}}}Reference"
TRANSFORMS: Final = f"{{{DS}}}Transforms"
TRANSFORM: Final = f"{{{DS}}}Transform"
DIGEST_METHOD: Final = f"{{{DS}}}DigestMethod"
DIGEST_VALUE: Final = f"{{{DS}}}DigestValue"
INCLUSIVE_NAMESPACES: Final = f"{{{EXC_C14N}}}InclusiveNamespaces"

CANONICALISATIONS: Final = frozenset({
    EXC_C14N,
    EXC_C14N + "WithComments",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315",
    "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments",
    "http://www.w3.org/2006/12/xml-c14n11",
    "http://www.w3.org/2006/12/xml-c14n11#WithComments",
})
TRANSFORM_ALGORITHMS: Final = CANONICALISATIONS | {f"{DS}enveloped-signature"}
SIGNATURE_ALGORITHMS: Final = frozenset({
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512",
})
DIGEST_ALGORITHMS: Final = frozenset({
    "http://www.w3.org/2001/04/xmlenc#sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512",
})
# Refused with python3-saml's own reason, so SHA-1 reads the same wherever it is caught.
SHA1_ALGORITHMS: Final = frozenset({f"{DS}rsa-sha1", f"{DS}dsa-sha1", f"{DS}sha1"})
MAX_TRANSFORMS: Final = 3


def check_signature_profile(document: ResponseDocument) -> None:
    """Refuse any ``ds:Signature`` outside the plain enveloped SAML profile (see the module doc)."""
    signed: list[etree._Element] = []
    for signature in document.root.iter(SIGNATURE):
        parent = signature.getparent()
        if parent is None or (parent is not document.root and parent is not document.assertion):
            raise SignInRejected("signature_structure_invalid")
        if any(parent is seen for seen in signed):
            raise SignInRejected("signature_structure_invalid")
        signed.append(parent)
        _check_signature(signature, parent.get("ID"))


def _check_signature(signature: etree._Element, signed_id: str | None) -> None:
    tags = [child.tag for child in signature]
    if tags not in ([SIGNED_INFO, SIGNATURE_VALUE], [SIGNED_INFO, SIGNATURE_VALUE, KEY_INFO]):
        raise SignInRejected("signature_structure_invalid")
    signed_info = signature[0]
    if [child.tag for child in signed_info] != [C14N_METHOD, SIGNATURE_METHOD, REFERENCE]:
        raise SignInRejected("signature_structure_invalid")
    c14n, method, reference = signed_info
    _check_algorithm(c14n, CANONICALISATIONS)
    _check_algorithm(method, SIGNATURE_ALGORITHMS, leaf=True)
    if not signed_id or reference.get("URI") != "#" + signed_id:
        raise SignInRejected("signature_structure_invalid")
    parts = [child.tag for child in reference]
    if parts not in ([TRANSFORMS, DIGEST_METHOD, DIGEST_VALUE], [DIGEST_METHOD, DIGEST_VALUE]):
        raise SignInRejected("signature_structure_invalid")
    if parts[0] == TRANSFORMS:
        transforms = list(reference[0])
        if len(transforms) > MAX_TRANSFORMS or any(t.tag != TRANSFORM for t in transforms):
            raise SignInRejected("signature_structure_invalid")
        for transform in transforms:
            _check_algorithm(transform, TRANSFORM_ALGORITHMS)
    _check_algorithm(reference[-2], DIGEST_ALGORITHMS, leaf=True)


def _check_algorithm(element: etree._Element, allowed: frozenset[str], *, leaf: bool = False) -> None:
    algorithm = element.get("Algorithm")
    if algorithm in SHA1_ALGORITHMS:
        raise SignInRejected("deprecated_algorithm")
    if algorithm not in allowed:
        raise SignInRejected("signature_algorithm_not_allowed")
    # Only exclusive c14n takes a parameter (its InclusiveNamespaces prefix list).
    children = list(element)
    if children and (leaf or algorithm is None or not algorithm.startswith(EXC_C14N)
                     or [child.tag for child in children] != [INCLUSIVE_NAMESPACES]
                     or len(children[0])):
        raise SignInRejected("signature_structure_invalid")
