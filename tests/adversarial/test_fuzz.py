"""Property-based fuzzing of the ACS input path through the real handler.

Whatever arrives as the body of ``POST /saml/acs`` (bytes, form junk, base64
of junk XML, valid responses mutated at the byte, tree or base64 level), the
handler answers a 4xx page with the security headers: never a 5xx, never an
exception out of the handler, never an AWS call into a spoke.

The run is bounded for CI (``FUZZ_EXAMPLES`` per property, a few seconds
each); ``BROKER_FUZZ_EXAMPLES=20000 pytest tests/adversarial/test_fuzz.py``
runs a long campaign on demand (see docs/security.md).
"""

from __future__ import annotations

import base64
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from lxml import etree

from broker.local.idp import SAML, SAMLP, encode
from tests.adversarial.conftest import assert_security_headers
from tests.functional.conftest import ACS_URL, ENTITY_ID, Landscape, acs_event

FUZZ_EXAMPLES = int(os.environ.get("BROKER_FUZZ_EXAMPLES", "300"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # moto and xmlsec make single examples slow now and then
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
REFUSALS = {400, 401, 403, 404, 405, 413}
CONTENT_TYPES = [
    "application/x-www-form-urlencoded", "application/x-www-form-urlencoded; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED", "text/plain", "application/json", "", "multipart/form-data",
]


@pytest.fixture(scope="module")
def fuzz_hub(module_landscape: Landscape) -> Iterator[tuple[Landscape, list[str]]]:
    """The landscape and a pool of genuine responses, each already used once (so a mutation
    that still verifies can at most be a replay, and every answer must be a refusal)."""
    land = module_landscape
    pool = [
        land.idps[team].build_response(user_id=f"fuzz-{team}-{sign}", team_id=team, audience=ENTITY_ID,
                                       acs_url=ACS_URL, sign=sign)
        for team in ("team1", "team2") for sign in ("assertion", "response", "both")
    ]
    for xml in pool:
        assert land.post_acs(encode(xml))["statusCode"] == 302
    land.calls.clear()
    yield land, pool


def check(land: Landscape, request: dict[str, Any]) -> None:
    """The property: a refusal page with the headers, and nothing done in any spoke."""
    response = land.invoke(request)
    event(f"status {response['statusCode']}")  # hypothesis statistics: which refusals were reached
    assert response["statusCode"] in REFUSALS, (response["statusCode"], response["body"][:300])
    assert_security_headers(response)
    assert "Reference:" in response["body"] and "Traceback" not in response["body"]
    assert "Location" not in response.get("multiValueHeaders", {})
    for operation in ("AssumeRole", "CreateUserProfile", "CreatePresignedDomainUrl"):
        assert land.calls[operation] == 0


def with_content_type(event: dict[str, Any], content_type: str) -> dict[str, Any]:
    event["headers"]["Content-Type"] = content_type
    event["multiValueHeaders"]["Content-Type"] = [content_type]
    return event


# --- strategies ---------------------------------------------------------------------------------

SAML_TAGS = [f"{{{SAMLP}}}{t}" for t in ("Response", "Status", "StatusCode", "Extensions")] + [
    f"{{{SAML}}}{t}" for t in ("Assertion", "Issuer", "Subject", "NameID", "Conditions", "Audience",
                              "AttributeStatement", "Attribute", "AttributeValue")
] + ["{http://www.w3.org/2000/09/xmldsig#}Signature", "x"]
SAML_ATTRIBUTES = ["ID", "Version", "IssueInstant", "Destination", "Name", "Value", "NotOnOrAfter",
                   "Recipient", "Method"]
# Characters XML 1.0 can carry (lxml refuses to build a tree with any other).
xml_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFFFD, blacklist_categories=("Cs",)),
                   max_size=40)
attribute_values = st.one_of(xml_text, st.sampled_from(
    ["2.0", "urn:oasis:names:tc:SAML:2.0:status:Success", ACS_URL, "teamid", "userid",
     "2026-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "0000-00-00T00:00:00Z", "_id"]))


@st.composite
def junk_xml(draw: st.DrawFn, depth: int = 0) -> etree._Element:
    element = etree.Element(draw(st.sampled_from(SAML_TAGS)))
    for name in draw(st.lists(st.sampled_from(SAML_ATTRIBUTES), max_size=4, unique=True)):
        element.set(name, draw(attribute_values))
    if depth < 4:
        for child in draw(st.lists(junk_xml(depth + 1), max_size=3)):
            element.append(child)
    if not len(element):
        element.text = draw(xml_text)
    return element


@st.composite
def mutated(draw: st.DrawFn, pool: list[str]) -> str:
    """A genuine response with a few edits at the text or tree level; base64 of the result."""
    xml = draw(st.sampled_from(pool))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "delete", "insert", "duplicate", "tree"]))
        at = draw(st.integers(0, len(xml) - 1))
        if kind == "flip":
            xml = xml[:at] + draw(st.characters(max_codepoint=0x2FF)) + xml[at + 1:]
        elif kind == "delete":
            xml = xml[:at] + xml[at + draw(st.integers(1, 64)):]
        elif kind == "insert":
            xml = xml[:at] + draw(st.sampled_from(
                ["<!---->", "<!DOCTYPE x>", "&amp;", "<x/>", " ", "\x00", "]]>", "<![CDATA[a]]>"]
            ) | xml_text) + xml[at:]
        elif kind == "duplicate":
            xml = xml[:at] + xml[at:at + draw(st.integers(1, 512))] + xml[at:]
        else:
            xml = draw(tree_edit(xml))
    return encode(xml)


@st.composite
def tree_edit(draw: st.DrawFn, xml: str) -> str:
    try:
        root = etree.fromstring(xml.encode())
    except etree.XMLSyntaxError:
        return xml
    elements = list(root.iter(etree.Element))
    target = draw(st.sampled_from(elements))
    action = draw(st.sampled_from(["remove", "copy", "attribute", "text", "move"]))
    parent = target.getparent()
    if action == "remove" and parent is not None:
        parent.remove(target)
    elif action == "copy" and parent is not None:
        parent.insert(draw(st.integers(0, len(parent))), etree.fromstring(etree.tostring(target)))
    elif action == "attribute":
        target.set(draw(st.sampled_from(SAML_ATTRIBUTES)), draw(attribute_values))
    elif action == "text" and not len(target):
        target.text = draw(attribute_values)
    elif action == "move" and parent is not None:
        destination = draw(st.sampled_from(elements))
        if target not in destination.iterancestors() and destination is not target:
            destination.append(target)
    return etree.tostring(root, encoding="unicode")


def flip_base64(value: str, at: int, char: str) -> str:
    at %= len(value)
    return value[:at] + char + value[at + 1:]


# --- properties ---------------------------------------------------------------------------------


@FUZZ
@given(body=st.binary(max_size=4096), encoded=st.booleans(), content_type=st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes(fuzz_hub: tuple[Landscape, list[str]], body: bytes, encoded: bool,
                         content_type: str) -> None:
    land, _ = fuzz_hub
    raw = base64.b64encode(body).decode() if encoded else body.decode("latin-1")
    check(land, with_content_type(acs_event(raw, isBase64Encoded=encoded), content_type))


@FUZZ
@given(fields=st.lists(st.tuples(
    st.sampled_from(["SAMLResponse", "RelayState", "SAMLRequest", "x"]) | st.text(max_size=12),
    st.text(max_size=300) | st.binary(max_size=300).map(lambda b: base64.b64encode(b).decode()),
), max_size=10))
def test_form_encoded_junk(fuzz_hub: tuple[Landscape, list[str]], fields: list[tuple[str, str]]) -> None:
    land, _ = fuzz_hub
    check(land, acs_event(urllib.parse.urlencode(fields)))


@FUZZ
@given(document=junk_xml(), declaration=st.booleans(), relay_state=st.none() | st.text(max_size=40))
def test_base64_of_junk_xml(fuzz_hub: tuple[Landscape, list[str]], document: etree._Element,
                            declaration: bool, relay_state: str | None) -> None:
    land, _ = fuzz_hub
    xml = etree.tostring(document, encoding="unicode")
    if declaration:
        xml = '<?xml version="1.0" encoding="UTF-8"?>' + xml
    fields = {"SAMLResponse": encode(xml)}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    check(land, acs_event(urllib.parse.urlencode(fields)))


@FUZZ
@given(data=st.data())
def test_mutated_genuine_responses(fuzz_hub: tuple[Landscape, list[str]], data: st.DataObject) -> None:
    land, pool = fuzz_hub
    saml_response = data.draw(mutated(pool))
    if data.draw(st.booleans()):
        saml_response = flip_base64(saml_response, data.draw(st.integers(0, 10**6)),
                                    data.draw(st.sampled_from("A/+=%\n -_.~")))
    check(land, acs_event(urllib.parse.urlencode({"SAMLResponse": saml_response})))
