"""Three repeated costs of python3-saml 1.16 removed, with every check kept.

For each response python3-saml re-reads and compiles the SAML protocol XSD
(and the four schemas it imports) and compiles every XPath query afresh:
together about 60% of its CPU per response. :func:`install` swaps in
drop-in versions of ``OneLogin_Saml2_XML.validate_xml`` and
``OneLogin_Saml2_XML.query`` that keep the compiled schema and XPath objects
per thread (lxml's validators and XPath evaluators carry per-call state, so
they are not shared between threads).

It also parses each response's timestamps (ten calls of
``OneLogin_Saml2_Utils.parse_SAML_to_time``) through ``datetime.strptime``,
18-28 us a call, about 15% of the broker's whole SAML validation: the
replacement reads the canonical form (``YYYY-MM-DDThh:mm:ss[.f+]Z``, ASCII
digits) directly, 2.6-3.3 us, and hands anything else to the original, so
every other input gets python3-saml's own answer or exception.

Inputs, outputs and failure values are the originals'; ``tests/test_saml_speedups.py``
pins that contract to python3-saml 1.16 and fails loudly if an upgrade changes
the patched code.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import threading
from pathlib import Path
from typing import Any, Final

import onelogin.saml2.xml_utils as saml_xml_utils
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

SCHEMA_DIR: Final = Path(saml_xml_utils.__file__).parent / "schemas"
# The queries come from python3-saml's code (values are passed as XPath
# variables), so the set is small; the bound is only a guard.
MAX_CACHED_QUERIES: Final = 256

ORIGINAL_VALIDATE_XML: Final = OneLogin_Saml2_XML.__dict__["validate_xml"]
ORIGINAL_QUERY: Final = OneLogin_Saml2_XML.__dict__["query"]
ORIGINAL_PARSE_SAML_TO_TIME: Final = OneLogin_Saml2_Utils.__dict__["parse_SAML_to_time"]
# What strptime's "%Y-%m-%dT%H:%M:%SZ" (or its ".%fZ" or fragment fallbacks) reads the
# same way in every case: fixed-width ASCII fields; the fraction is ignored by python3-saml.
_CANONICAL_TIME: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?Z")

_per_thread = threading.local()
_install_lock = threading.Lock()


def _thread_cache(name: str) -> dict[str, Any]:
    cache = getattr(_per_thread, name, None)
    if cache is None:
        cache = {}
        setattr(_per_thread, name, cache)
    return cache


def compiled_schema(schema: str) -> etree.XMLSchema:
    """python3-saml's schema file ``schema``, compiled once per thread."""
    schemas = _thread_cache("schemas")
    compiled = schemas.get(schema)
    if compiled is None:
        # Parsed from the path, as the original does through an open file: the
        # base URL resolves the xs:import of the sibling schemas the same way.
        compiled = OneLogin_Saml2_XML._schema_class(etree.parse(str(SCHEMA_DIR / schema)))
        schemas[schema] = compiled
    return compiled


def compiled_query(query: str) -> etree.XPath:
    """``query`` compiled with python3-saml's namespace map, once per thread."""
    queries = _thread_cache("queries")
    compiled = queries.get(query)
    if compiled is None:
        compiled = etree.XPath(query, namespaces=OneLogin_Saml2_Constants.NSMAP)
        if len(queries) < MAX_CACHED_QUERIES:
            queries[query] = compiled
    return compiled


def validate_xml(xml: Any, schema: str, debug: bool = False) -> Any:
    """``OneLogin_Saml2_XML.validate_xml`` with the compiled schema reused.

    Same results: the root element when valid, ``'unloaded_xml'`` when the
    input does not parse, ``'invalid_xml'`` when it breaks the schema.
    """
    assert isinstance(schema, str)
    try:
        xml = OneLogin_Saml2_XML.to_etree(xml)
    except Exception as error:
        if debug:
            print(error)
        return "unloaded_xml"
    xmlschema = compiled_schema(schema)
    if not xmlschema.validate(xml):
        if debug:
            print("Errors validating the metadata: ")
            for entry in xmlschema.error_log:
                print(entry.message)
        return "invalid_xml"
    return xml


def query(dom: Any, query: str, context: Any = None, tagid: str | None = None) -> list[Any]:
    """``OneLogin_Saml2_XML.query`` with the compiled XPath reused; ``tagid`` stays a variable."""
    source = dom if context is None else context
    compiled = compiled_query(query)
    if tagid is None:
        return compiled(source)
    return compiled(source, tagid=tagid)


def parse_saml_to_time(timestr: Any) -> int:
    """``OneLogin_Saml2_Utils.parse_SAML_to_time``: epoch seconds of a SAML timestamp, the
    sub-second part ignored; a canonical one read directly, any other by the original."""
    match = _CANONICAL_TIME.fullmatch(timestr) if isinstance(timestr, str) else None
    if match is not None:
        year, month, day, hour, minute, second = map(int, match.groups())
        # strptime accepts seconds 60 and 61 (and then datetime refuses them): the original says.
        if hour < 24 and minute < 60 and second < 60:
            try:
                dt.date(year, month, day)  # the day exists (year 0, 02-30 and the like do not)
            except ValueError:
                pass
            else:
                return calendar.timegm((year, month, day, hour, minute, second))
    return ORIGINAL_PARSE_SAML_TO_TIME.__func__(timestr)


def install() -> None:
    """Use the cached versions in python3-saml from now on (idempotent, process-wide)."""
    with _install_lock:
        OneLogin_Saml2_XML.validate_xml = staticmethod(validate_xml)
        OneLogin_Saml2_XML.query = staticmethod(query)
        OneLogin_Saml2_Utils.parse_SAML_to_time = staticmethod(parse_saml_to_time)


def uninstall() -> None:
    """Restore python3-saml's own functions (the benchmark's floor, and tests)."""
    with _install_lock:
        OneLogin_Saml2_XML.validate_xml = ORIGINAL_VALIDATE_XML
        OneLogin_Saml2_XML.query = ORIGINAL_QUERY
        OneLogin_Saml2_Utils.parse_SAML_to_time = ORIGINAL_PARSE_SAML_TO_TIME


def installed() -> bool:
    """Whether :func:`install` is in force."""
    return OneLogin_Saml2_XML.__dict__["query"].__func__ is query
