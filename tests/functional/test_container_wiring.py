"""The Lambda builds its service from the environment: routing file and table name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from broker import handler
from broker.ops.routing_source import compile_routing_file
from broker.routing import clear_cache
from tests.functional.conftest import ACS_URL, ENTITY_ID, EXTERNAL_ID, SPOKES, TABLE, Landscape, headers_of


def _routing_yaml(landscape: Landscape) -> str:
    return yaml.safe_dump({
        "version": 1,
        "service_provider": {"entity_id": ENTITY_ID, "acs_url": ACS_URL},
        "spoke_access": {"role_name": "StudioBrokerAccess", "external_id": EXTERNAL_ID},
        "applications": [
            {"name": f"studio-{team}", "issuer": idp.issuer, "certificates": [idp.cert_pem],
             "teams": [team]}
            for team, idp in landscape.idps.items()
        ],
        "teams": [
            {"id": spoke.team_id, "account": spoke.account_id, "region": spoke.region,
             "domain": {"name": spoke.domain_name}, "execution_role": spoke.execution_role}
            for spoke in SPOKES
        ],
    })


def test_lambda_wires_itself_from_the_environment(
    landscape: Landscape, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "routing.yaml"
    source.write_text(_routing_yaml(landscape))
    routing_file = tmp_path / "routing.json"
    routing_file.write_text(compile_routing_file(source))  # what packaging ships
    monkeypatch.setenv("BROKER_ROUTING_FILE", str(routing_file))
    monkeypatch.setenv("BROKER_TABLE_NAME", TABLE)
    clear_cache()
    handler.use_login_service(None)
    try:
        response = landscape.sign_in("user1", "team2")
        assert response["statusCode"] == 302, response["body"]
        # the domain was given by name and resolved in the spoke
        assert headers_of(response)["Location"].startswith(f"https://{landscape.domain_ids['team2']}.")
        assert handler.login_service().routing.source == "routing.yaml"
    finally:
        clear_cache()


def test_missing_table_setting_is_a_500_page_not_a_traceback(
    landscape: Landscape, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BROKER_TABLE_NAME", raising=False)
    handler.use_login_service(None)
    response = landscape.sign_in("user1", "team1")
    assert response["statusCode"] == 500
    assert "Reference:" in response["body"] and "BROKER_TABLE_NAME" not in response["body"]
