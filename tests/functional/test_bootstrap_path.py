"""docs/deployment.md from an empty organisation to a first sign-in, command by command, in the emulator.

The steps a person takes: ``broker init``; deploy the hub (here: its replay
table) with the bootstrap table, which refuses every sign-in; ``broker
rollout apply`` for the spokes; put the hub's ``AcsUrl`` into the table; add
the first team's block and its Identity Center application from the
metadata file (``broker routing add-application``); ``broker routing
validate``; ``broker rollout apply`` again; deploy the hub with the new table;
a signed sign-in lands in the team's Studio.
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

import boto3
import pytest

from broker import handler
from broker.aws import AwsClients
from broker.cli import main
from broker.local.idp import SamlIdentityProvider
from broker.ops import rollout
from broker.ops.accounts import load_accounts
from broker.ops.routing_source import load_routing_table
from broker.replay import create_table
from broker.wiring import BrokerSettings, build_login_service
from tests.ops.conftest import spoke_session
from tests.ops.test_routing_add_application import metadata_xml

from .conftest import LambdaContext, acs_event, headers_of

HUB, SPOKE, REGION = "123456789012", "111122223333", "eu-west-1"
ACS_URL = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/prod/saml/acs"  # the hub's AcsUrl output
ISSUER = "https://portal.sso.eu-west-1.amazonaws.com/saml/assertion/Q0hVUk4"
TABLE = "studio-broker-ReplayTable-1A2B3C"
CHURN = f"""
  - id: churn
    account: "{SPOKE}"
    region: {REGION}
    domain: {{name: studio}}
    execution_role: studio-churn-execution
"""


def deploy_hub(directory: Path, clients: AwsClients) -> None:
    """What `sam deploy` does for the broker here: ship the table in the Lambda."""
    handler.use_login_service(build_login_service(
        load_routing_table(directory / "routing.yaml", check_expiry=False),
        BrokerSettings(table_name=TABLE, table_region="us-east-1"), clients))


def sign_in(idp: SamlIdentityProvider, audience: str) -> dict:
    xml = idp.build_response(user_id="alice", team_id="churn", audience=audience, acs_url=ACS_URL)
    body = urllib.parse.urlencode({"SAMLResponse": idp.encode(xml)})
    return handler.lambda_handler(acs_event(body), LambdaContext())


def test_from_an_empty_organisation_to_a_first_sign_in(
        emulated_aws: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clients = AwsClients()
    table_file, accounts = tmp_path / "routing.yaml", tmp_path / "accounts"
    assert main(["init", "--directory", str(tmp_path), "--hub-account", HUB, "--hub-region", "us-east-1",
                 "--spoke", f"{SPOKE}:{REGION}"]) == 0
    entity_id = load_routing_table(table_file).service_provider.entity_id
    idp = SamlIdentityProvider.generate(ISSUER)  # plays the team's Identity Center application
    try:
        # 1. The hub in the bootstrap state: deployed, and it refuses every sign-in.
        create_table(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
        deploy_hub(tmp_path, clients)
        refused = sign_in(idp, entity_id)
        assert refused["statusCode"] == 401 and "Location" not in headers_of(refused)

        # 2. The spokes: network and domain, no team yet.
        registry = load_accounts(accounts)
        assert rollout.apply(clients, registry, load_routing_table(table_file), poll_seconds=0).ok

        # 3. The hub's AcsUrl output into the table; the first team's block; its application
        #    from the metadata file the console offers; validate as CI does.
        text = table_file.read_text().replace("https://acs-url-pending.invalid/prod/saml/acs", ACS_URL)
        table_file.write_text(text.replace("teams: []\n", "teams:" + CHURN))
        metadata = tmp_path / "churn-metadata.xml"
        metadata.write_text(metadata_xml(ISSUER, idp.cert_pem))
        assert main(["routing", "add-application", str(table_file), "--metadata", str(metadata),
                     "--name", "studio-churn", "--team", "churn"]) == 0
        assert main(["routing", "validate", str(table_file), "--accounts", str(accounts)]) == 0, \
            capsys.readouterr().out

        # 4. Roll the team out (its role, the broker's access), deploy the hub with the new table.
        table = load_routing_table(table_file)
        assert rollout.apply(clients, registry, table, poll_seconds=0).ok
        deploy_hub(tmp_path, clients)

        # 5. The first sign-in lands in the team's domain, in alice's own profile.
        landed = sign_in(idp, entity_id)
        assert landed["statusCode"] == 302, landed["body"]
        location = urllib.parse.urlsplit(headers_of(landed)["Location"])
        assert location.netloc == f"d-studio.studio.{REGION}.sagemaker.aws"
        profile = spoke_session(SPOKE, REGION).client("sagemaker").describe_user_profile(
            DomainId="d-studio", UserProfileName="churn--alice")
        assert profile["Status"] == "InService"
        assert profile["UserSettings"]["ExecutionRole"] == f"arn:aws:iam::{SPOKE}:role/studio-churn-execution"
    finally:
        handler.use_login_service(None)
