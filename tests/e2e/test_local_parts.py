"""The local stack's parts on their own: the API Gateway adapter, the users file, the local routing."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from broker.exceptions import ConfigurationError
from broker.local.devidp import load_users, team_label, write_local_routing
from broker.local.http import api_gateway_event, http_response
from broker.local.idp import generate_signing_identity
from broker.local.stack import LocalStack
from tests.e2e.conftest import ROOT, stack_options


def _request(**kwargs: object) -> Request:
    return Request(EnvironBuilder(**kwargs).get_environ())  # type: ignore[arg-type]


def test_a_form_post_becomes_the_event_api_gateway_sends() -> None:
    request = _request(method="POST", path="/saml/acs", query_string="a=1&a=2",
                       data="SAMLResponse=abc%2B", content_type="application/x-www-form-urlencoded",
                       headers={"Cookie": "x=y"})
    event = api_gateway_event(request, "req-1")
    assert (event["httpMethod"], event["path"], event["body"], event["isBase64Encoded"]) == (
        "POST", "/saml/acs", "SAMLResponse=abc%2B", False)
    assert event["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert event["headers"]["Cookie"] == "x=y"
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["requestContext"]["requestId"] == "req-1"


def test_a_body_that_is_not_utf8_is_passed_base64_encoded() -> None:
    event = api_gateway_event(_request(method="POST", path="/saml/acs", data=b"\xff\xfe"), "req-2")
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"


def test_a_lambda_result_keeps_every_set_cookie_and_decodes_base64() -> None:
    response = http_response({
        "statusCode": 202,
        "multiValueHeaders": {"Set-Cookie": ["a=1; Secure", "b=2"], "Content-Type": ["text/html"]},
        "body": base64.b64encode(b"<p>hi</p>").decode(), "isBase64Encoded": True})
    assert response.status_code == 202
    assert response.headers.getlist("Set-Cookie") == ["a=1; Secure", "b=2"]
    assert response.get_data() == b"<p>hi</p>"


def test_users_file_naming_an_unknown_team_is_refused(tmp_path: Path) -> None:
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  - id: user1\n    teams: [team1, tema2]\n")
    with pytest.raises(ConfigurationError, match=r"users\[0\]: unknown team\(s\) \['tema2'\]"):
        load_users(users, ["team1", "team2"])


def test_local_routing_trusts_only_the_dev_idp_certificates(tmp_path: Path) -> None:
    certificates = {name: generate_signing_identity()[1]
                    for name in ("studio-team1", "studio-team2")}
    table = write_local_routing(ROOT / "routing.yaml", tmp_path / "routing.local.yaml",
                                "http://127.0.0.1:8123/saml/acs", certificates,
                                portal_url="http://127.0.0.1:8123/")
    assert table.service_provider.acs_url == "http://127.0.0.1:8123/saml/acs"
    # The broker's pages link back to the dev portal; the rest of the support stays.
    assert table.support.portal_url == "http://127.0.0.1:8123/"
    assert table.teams["team2"].support.portal_url == "http://127.0.0.1:8123/"
    assert table.teams["team2"].support.contact == "Churn modelling leads (#churn-help)"
    trusted = {app.name: app.certificates for app in table.applications.values()}
    assert trusted == {name: (pem.strip() + "\n",) for name, pem in certificates.items()}
    assert set(table.teams) == {"team1", "team2"}


def test_the_stack_serves_only_on_loopback(tmp_path: Path) -> None:
    stack = LocalStack(stack_options(tmp_path / "state", host="0.0.0.0"))
    with pytest.raises(ValueError, match="only on loopback"):
        stack.start()
    assert stack.base_url == "" and not (tmp_path / "state").exists()


def test_team_labels_read_like_application_names() -> None:
    assert [team_label(t) for t in ("team1", "data-science2", "ml")] == ["Team 1", "Data science 2", "Ml"]
