"""``broker routing add-application``: an Identity Center metadata file into routing.yaml."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from broker.cli import main
from broker.ops.idp_metadata import parse_idp_metadata
from broker.ops.routing_source import parse_routing_table

REPO = Path(__file__).parent.parent.parent
ISSUER = "https://portal.sso.eu-central-1.amazonaws.com/saml/assertion/Q0hVUk4tQVBQ"
NEW_TEAM = """
  - id: churn
    account: "111111111111"
    region: us-east-1
    domain: {name: studio}
    execution_role: studio-churn-execution
"""


def certificate_pem(common_name: str = "amazonaws.com") -> str:
    """A self-signed RSA-2048 SHA-256 certificate, valid now, like Identity Center's."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=365)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def metadata_xml(issuer: str, *pems: str) -> str:
    """An IdP metadata document in the shape IAM Identity Center serves."""
    keys = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        + base64.b64encode(x509.load_pem_x509_certificate(pem.encode()).public_bytes(
            serialization.Encoding.DER)).decode()
        + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>" for pem in pems)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="{issuer}">'
        '<md:IDPSSODescriptor WantAuthnRequestsSigned="false" '
        'protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}"
        "<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" '
        'Location="https://portal.sso.eu-central-1.amazonaws.com/saml/assertion/Q0hVUk4tQVBQ"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>")


@pytest.fixture
def table(tmp_path: Path) -> Path:
    """The repository's routing.yaml plus a team that no application routes to yet (the PR's first step)."""
    path = tmp_path / "routing.yaml"
    path.write_text((REPO / "routing.yaml").read_text() + NEW_TEAM)
    return path


def write(tmp_path: Path, text: str, name: str = "metadata.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_new_application_is_added_with_its_issuer_certificate_and_team(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = table.read_text()
    pem = certificate_pem()
    metadata = write(tmp_path, metadata_xml(ISSUER, pem))
    code = main(["routing", "add-application", str(table), "--metadata", str(metadata),
                 "--name", "studio-churn", "--team", "churn"])
    assert code == 0, capsys.readouterr().err
    after = table.read_text()
    routing = parse_routing_table(after, str(table))
    app = routing.applications[ISSUER]
    assert (app.name, sorted(app.teams)) == ("studio-churn", ["churn"])
    assert [c.strip() for c in app.certificates] == [pem.strip()]
    # Only lines were added: every comment and line of the operator's file is still there, in order.
    old_lines, new_lines = before.splitlines(), iter(after.splitlines())
    assert all(line in new_lines for line in old_lines)
    # The new entry sits in `applications`, before the comment that introduces `teams`.
    assert after.index("name: studio-churn") < after.index("# One entry per team.")
    out = capsys.readouterr().out
    assert "added application 'studio-churn'" in out and "next: broker routing validate" in out


def test_the_same_issuer_with_a_new_certificate_is_a_rotation(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = certificate_pem(), certificate_pem()
    assert main(["routing", "add-application", str(table), "--metadata",
                 str(write(tmp_path, metadata_xml(ISSUER, old))), "--name", "studio-churn",
                 "--team", "churn"]) == 0
    # Identity Center's metadata during a rotation lists the new certificate (and maybe the old).
    assert main(["routing", "add-application", str(table), "--metadata",
                 str(write(tmp_path, metadata_xml(ISSUER, new, old), "rotated.xml"))]) == 0
    app = parse_routing_table(table.read_text(), str(table)).applications[ISSUER]
    assert [c.strip() for c in app.certificates] == [old.strip(), new.strip()]
    assert "a rotation" in capsys.readouterr().out

    unchanged = table.read_text()
    assert main(["routing", "add-application", str(table), "--metadata",
                 str(write(tmp_path, metadata_xml(ISSUER, new), "again.xml"))]) == 1
    assert "nothing to do" in capsys.readouterr().err
    assert table.read_text() == unchanged


@pytest.mark.parametrize(("arguments", "message"), [
    (["--name", "studio-churn-2", "--team", "team1"], "already bound to application"),
    (["--name", "studio-churn"], "needs --name and at least one --team"),
    (["--team", "churn"], "needs --name and at least one --team"),
    (["--name", "studio-churn", "--team", "nobody"], "unknown team"),
], ids=["team-already-bound", "no-team", "no-name", "unknown-team"])
def test_an_edit_that_would_break_the_table_writes_nothing(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    before = table.read_bytes()
    metadata = write(tmp_path, metadata_xml(ISSUER, certificate_pem()))
    assert main(["routing", "add-application", str(table), "--metadata", str(metadata), *arguments]) == 1
    assert message in capsys.readouterr().err
    assert table.read_bytes() == before


@pytest.mark.parametrize(("document", "message"), [
    ("<md:EntityDescriptor", "not a SAML metadata document"),
    ('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "not a SAML metadata document"),
    ("<x/>", "no EntityDescriptor with an IDPSSODescriptor"),
    (metadata_xml(ISSUER), "has no signing certificate"),
], ids=["not-xml", "dtd", "not-idp-metadata", "no-certificate"])
def test_bad_metadata_is_refused_in_one_line_and_writes_nothing(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], document: str, message: str
) -> None:
    before = table.read_bytes()
    metadata = write(tmp_path, document)
    assert main(["routing", "add-application", str(table), "--metadata", str(metadata),
                 "--name", "studio-churn", "--team", "churn"]) == 1
    err = capsys.readouterr().err
    assert message in err and str(metadata) in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert table.read_bytes() == before


def test_a_missing_metadata_file_is_named(
    table: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["routing", "add-application", str(table), "--metadata", str(tmp_path / "absent.xml"),
                 "--name", "studio-churn", "--team", "churn"]) == 1
    assert "absent.xml: cannot read the metadata file" in capsys.readouterr().err


def test_the_metadata_parser_reads_every_signing_certificate_as_pem() -> None:
    first, second = certificate_pem(), certificate_pem()
    parsed = parse_idp_metadata(metadata_xml(ISSUER, first, second), "m.xml")
    assert parsed.issuer == ISSUER
    assert [c.strip() for c in parsed.certificates] == [first.strip(), second.strip()]
