"""Contract of the python3-saml speed-ups: same answers as python3-saml 1.16's own functions.

:mod:`broker.saml.speedups` replaces ``OneLogin_Saml2_XML.validate_xml`` and
``OneLogin_Saml2_XML.query`` with versions that reuse compiled schemas and
XPath, and ``OneLogin_Saml2_Utils.parse_SAML_to_time`` with one that reads
the canonical timestamp form without strptime. These tests fail loudly when
an upgrade of python3-saml changes the replaced code or stops calling it, and
check the replacements answer alike.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Iterator

import onelogin.saml2.response as saml_response_module
import onelogin.saml2.utils as saml_utils_module
import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from broker.config import IdpApplication, ServiceProvider
from broker.exceptions import SignInRejected
from broker.local.idp import SAML, SamlIdentityProvider, encode
from broker.saml import SamlValidator, speedups

ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/SPEEDUPS"
ACS = "https://broker.example.com/prod/saml/acs"
ENTITY = "urn:example:studio-broker"
SCHEMA = "saml-schema-protocol-2.0.xsd"
original_validate_xml = speedups.ORIGINAL_VALIDATE_XML.__func__
original_query = speedups.ORIGINAL_QUERY.__func__
original_parse_time = speedups.ORIGINAL_PARSE_SAML_TO_TIME.__func__


@pytest.fixture(scope="module")
def idp() -> SamlIdentityProvider:
    return SamlIdentityProvider.generate(ISSUER)


@pytest.fixture
def installed() -> Iterator[None]:
    was = speedups.installed()
    speedups.install()
    yield
    if not was:
        speedups.uninstall()


def signed(idp: SamlIdentityProvider, **overrides: object) -> etree._Element:
    xml = idp.build_response(user_id="alice@example.com", team_id="ds-alpha", audience=ENTITY,
                             acs_url=ACS, **overrides)  # type: ignore[arg-type]
    return etree.fromstring(xml.encode())


def test_python3_saml_code_we_replace_is_unchanged() -> None:
    """The replaced bodies of 1.16: a re-read schema and an uncompiled xpath call."""
    validate_source = inspect.getsource(original_validate_xml)
    assert "schema_file = join(dirname(__file__), 'schemas', schema)" in validate_source
    assert "OneLogin_Saml2_XML._schema_class(etree.parse(f_schema))" in validate_source
    assert "return 'unloaded_xml'" in validate_source and "return 'invalid_xml'" in validate_source
    query_source = inspect.getsource(original_query)
    assert "source.xpath(query, namespaces=OneLogin_Saml2_Constants.NSMAP)" in query_source
    assert "source.xpath(query, tagid=tagid, namespaces=OneLogin_Saml2_Constants.NSMAP)" in query_source
    assert list(inspect.signature(original_validate_xml).parameters) == ["xml", "schema", "debug"]
    assert list(inspect.signature(original_query).parameters) == ["dom", "query", "context", "tagid"]
    time_source = inspect.getsource(original_parse_time)
    assert "datetime.strptime(timestr, OneLogin_Saml2_Utils.TIME_FORMAT)" in time_source
    assert "datetime.strptime(timestr, OneLogin_Saml2_Utils.TIME_FORMAT_2)" in time_source
    assert "return calendar.timegm(data.utctimetuple())" in time_source
    assert OneLogin_Saml2_Utils.TIME_FORMAT == "%Y-%m-%dT%H:%M:%SZ"
    assert OneLogin_Saml2_Utils.TIME_FORMAT_2 == "%Y-%m-%dT%H:%M:%S.%fZ"
    assert list(inspect.signature(original_parse_time).parameters) == ["timestr"]


def test_python3_saml_calls_the_replaced_functions_through_the_class() -> None:
    """A patch on the class reaches is_valid and the signature check only if they call it so."""
    response_source = inspect.getsource(saml_response_module)
    utils_source = inspect.getsource(saml_utils_module)
    assert "OneLogin_Saml2_XML.validate_xml(self.document, 'saml-schema-protocol-2.0.xsd'" in response_source
    assert "return OneLogin_Saml2_XML.query(document, query, None, tagid)" in response_source
    assert "OneLogin_Saml2_XML.query(elem, xpath)" in utils_source
    assert response_source.count("OneLogin_Saml2_Utils.parse_SAML_to_time(") >= 6


def test_install_and_uninstall_swap_the_functions() -> None:
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    was = speedups.installed()
    try:
        speedups.install()
        assert speedups.installed()
        assert OneLogin_Saml2_XML.validate_xml is speedups.validate_xml
        speedups.uninstall()
        assert not speedups.installed()
        assert OneLogin_Saml2_XML.validate_xml is original_validate_xml
        assert OneLogin_Saml2_Utils.parse_SAML_to_time is original_parse_time
    finally:
        (speedups.install if was else speedups.uninstall)()


def test_validate_xml_answers_like_python3_saml(idp: SamlIdentityProvider) -> None:
    valid = signed(idp)
    broken = signed(idp)
    etree.SubElement(broken.find(f"{{{SAML}}}Assertion"), f"{{{SAML}}}Bogus")
    assert speedups.validate_xml(valid, SCHEMA) is valid
    assert original_validate_xml(valid, SCHEMA) is valid
    assert speedups.validate_xml(broken, SCHEMA) == original_validate_xml(broken, SCHEMA) == "invalid_xml"
    assert speedups.validate_xml(b"<a>", SCHEMA) == original_validate_xml(b"<a>", SCHEMA) == "unloaded_xml"
    text = etree.tostring(valid, encoding="unicode")
    assert speedups.validate_xml(text, SCHEMA).tag == original_validate_xml(text, SCHEMA).tag


def test_query_answers_like_python3_saml(idp: SamlIdentityProvider) -> None:
    root = signed(idp, sign="both")
    assertion_id = root.find(f"{{{SAML}}}Assertion").get("ID")
    cases = [
        ("/samlp:Response/saml:Assertion/ds:Signature", None, None),
        ("//ds:Signature", None, None),
        ("/samlp:Response/saml:Assertion[@ID=$tagid]/saml:Subject/saml:NameID", None, assertion_id),
        ("/samlp:Response/saml:Assertion[@ID=$tagid]", None, "_not-there"),
        (".//ds:Reference", root.find("{http://www.w3.org/2000/09/xmldsig#}Signature"), None),
    ]
    for query, context, tagid in cases:
        ours = speedups.query(root, query, context, tagid)
        theirs = original_query(root, query, context, tagid)
        assert ours == theirs, query
    assert len(speedups.query(root, "//ds:Signature")) == 2


def _parsed(parse: object, text: object) -> tuple[str, object]:
    """What a parser answers: the value, or the type and text of what it raised."""
    try:
        return "value", parse(text)  # type: ignore[operator]
    except Exception as error:  # python3-saml raises a bare Exception for a bad format
        return "raised", (type(error), str(error))


# Timestamps near the canonical form: every field width, a fraction or not, Z or not,
# digits from other scripts, out-of-range fields, trailing newlines.
_DIGITS = st.sampled_from("0123456789") | st.sampled_from("\u0661\u0969\uff13")
_FIELD = st.text(_DIGITS, min_size=1, max_size=5)
_TIMESTAMPS = st.builds(
    lambda y, mo, d, t, h, mi, s, frac, z, tail: f"{y}-{mo}-{d}{t}{h}:{mi}:{s}{frac}{z}{tail}",
    _FIELD, _FIELD, _FIELD, st.sampled_from(["T", "t", " "]), _FIELD, _FIELD, _FIELD,
    st.sampled_from(["", ".", ".1", ".123456", ".1234567", ".12a"]),
    st.sampled_from(["Z", "", "z", "+00:00"]), st.sampled_from(["", "\n", " "]))


@pytest.mark.parametrize("text", [
    "2026-12-01T17:55:12Z", "2026-12-01T17:55:12.5Z", "2026-12-01T17:55:12.1234567Z",
    "2024-02-29T23:59:59Z", "2023-02-29T00:00:00Z", "2026-12-01T17:55:60Z", "2026-12-01T24:00:00Z",
    "0000-01-01T00:00:00Z", "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "2026-1-1T1:2:3Z",
    "2026-12-01T17:55:12", "2026-12-01T17:55:12Z\n", "2026-12-01 17:55:12Z", "", "garbage",
])
def test_timestamps_parse_like_python3_saml(text: str) -> None:
    assert _parsed(speedups.parse_saml_to_time, text) == _parsed(original_parse_time, text)


@given(_TIMESTAMPS)
def test_any_near_canonical_timestamp_parses_like_python3_saml(text: str) -> None:
    assert _parsed(speedups.parse_saml_to_time, text) == _parsed(original_parse_time, text)


def test_compiled_objects_are_reused_per_thread_only() -> None:
    assert speedups.compiled_schema(SCHEMA) is speedups.compiled_schema(SCHEMA)
    assert speedups.compiled_query("//ds:Signature") is speedups.compiled_query("//ds:Signature")
    other: list[object] = []
    thread = threading.Thread(target=lambda: other.append(speedups.compiled_schema(SCHEMA)))
    thread.start()
    thread.join()
    assert other[0] is not speedups.compiled_schema(SCHEMA)


def test_schema_violation_is_still_refused_with_the_cache(
    installed: None, idp: SamlIdentityProvider
) -> None:
    """Signed after the bogus element was added: only the schema check can refuse it."""
    sp = ServiceProvider(entity_id=ENTITY, acs_url=ACS)
    validator = SamlValidator(sp, {ISSUER: IdpApplication("app", ISSUER, (idp.cert_pem,),
                                                          frozenset({"ds-alpha"}))})
    good = idp.build_response(user_id="alice@example.com", team_id="ds-alpha", audience=ENTITY,
                              acs_url=ACS)
    assert validator.validate(encode(good)).user_id == "alice@example.com"

    def bogus(response: etree._Element) -> None:
        etree.SubElement(response.find(f"{{{SAML}}}Assertion"), f"{{{SAML}}}Bogus")

    bad = idp.build_response(user_id="alice@example.com", team_id="ds-alpha", audience=ENTITY,
                             acs_url=ACS, before_sign=bogus)
    with pytest.raises(SignInRejected) as caught:
        validator.validate(encode(bad))
    assert caught.value.reason == "schema_invalid"
