"""What the benchmark signs in to: the emulator in its own process, spokes, a routing table.

The emulator runs as a separate process (``python -m broker.emulator.server``)
so that its CPU is never counted as the broker's. The routing table is written
as block-style YAML like a real ``routing.yaml`` and loaded by the broker
through the production loader; filler teams (one Identity Center application
each, each with its own certificate) make it as large as asked.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

BENCH_ACS_URL = "https://broker.bench.invalid/prod/saml/acs"
BENCH_ENTITY_ID = "urn:bench:studio-broker"
BENCH_TABLE = "studio-broker-bench"
HUB_REGION = "us-east-1"
EXTERNAL_ID = "studio-broker-bench"
SPOKE_ACCOUNTS = (("111111111111", "us-east-1"), ("222222222222", "eu-west-1"))
FILLER_REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2")
ISSUER_PREFIX = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/"


@dataclass(frozen=True)
class BenchTeam:
    """A team that really exists in the emulator: its spoke account, region and domain."""

    id: str
    account_id: str
    region: str

    @property
    def domain_name(self) -> str:
        return f"{self.id}studio"

    @property
    def domain_id(self) -> str:
        return f"d-{self.domain_name}"  # moto's domain ids are d-<name>

    @property
    def execution_role(self) -> str:
        return f"arn:aws:iam::{self.account_id}:role/studio-{self.id}-execution"

    @property
    def issuer(self) -> str:
        return f"{ISSUER_PREFIX}{self.id.upper()}APP"


def bench_teams(count: int) -> list[BenchTeam]:
    """``count`` teams spread over the two spoke accounts."""
    return [
        BenchTeam(f"bench{i}", *SPOKE_ACCOUNTS[i % len(SPOKE_ACCOUNTS)]) for i in range(1, count + 1)
    ]


def aws_env(endpoint_url: str) -> dict[str, str]:
    """The environment that points boto3 (of any process) at the emulator, with fake credentials."""
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_PROFILE", "AWS_CONFIG_FILE")}
    env.update({
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": HUB_REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


class EmulatorProcess:
    """``python -m broker.emulator.server`` on a free port, stopped with :meth:`stop`."""

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "broker.emulator.server", "--port", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=dict(env or os.environ),
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if not line.startswith("http"):
            self.stop()
            raise RuntimeError("the emulator did not start (no URL on its first line)")
        self.url = line

    def stop(self) -> None:
        """Terminate the emulator and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def provision(teams: list[BenchTeam], endpoint_url: str) -> None:
    """Spoke accounts with a VPC, the teams' execution roles and domains; the hub's state table."""
    import boto3

    from broker.replay import create_table

    env = aws_env(endpoint_url)
    session = boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"], region_name=HUB_REGION)
    create_table(session.client("dynamodb", endpoint_url=endpoint_url), BENCH_TABLE)
    by_account: dict[tuple[str, str], list[BenchTeam]] = {}
    for team in teams:
        by_account.setdefault((team.account_id, team.region), []).append(team)
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
        "Action": "sts:AssumeRole"}]})
    for (account_id, region), members in by_account.items():
        creds = session.client("sts", region_name=region, endpoint_url=endpoint_url).assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
            RoleSessionName="bench-provision")["Credentials"]
        spoke = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"], region_name=region)
        iam = spoke.client("iam", endpoint_url=endpoint_url)
        ec2 = spoke.client("ec2", endpoint_url=endpoint_url)
        sagemaker = spoke.client("sagemaker", endpoint_url=endpoint_url)
        vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
        for team in members:
            iam.create_role(RoleName=f"studio-{team.id}-execution", AssumeRolePolicyDocument=trust)
            sagemaker.create_domain(
                DomainName=team.domain_name, AuthMode="IAM",
                DefaultUserSettings={"ExecutionRole": team.execution_role},
                SubnetIds=[subnet], VpcId=vpc, AppNetworkAccessType="VpcOnly")


def filler_certificates(count: int) -> Iterator[str]:
    """``count`` distinct self-signed certificates (EC, one key): cheap to make, real to parse."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    for number in range(1, count + 1):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"filler-{number}.bench.invalid")])
        certificate = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(number)
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        yield certificate.public_bytes(serialization.Encoding.PEM).decode()


def routing_yaml(
    teams: list[BenchTeam], certificates: Mapping[str, str], table_size: int, accounts: int,
    filler_pems: list[str],
) -> str:
    """A routing table of ``max(table_size, len(teams))`` teams, one application each.

    ``certificates`` holds the real signing certificate of each bench team;
    filler teams spread over ``accounts`` accounts and take ``filler_pems`` in turn.
    """
    fillers = max(0, table_size - len(teams))
    lines = [
        "# Generated by broker bench.",
        "version: 1",
        "service_provider:",
        f"  entity_id: {BENCH_ENTITY_ID}",
        f"  acs_url: {BENCH_ACS_URL}",
        "spoke_access:",
        f"  external_id: {EXTERNAL_ID}",
        "applications:",
    ]

    def application(name: str, issuer: str, pem: str, team_id: str) -> None:
        lines.extend([f"  - name: {name}", f"    issuer: {issuer}", "    certificates:", "      - |"])
        lines.extend(f"        {row}" for row in pem.strip().splitlines())
        lines.append(f"    teams: [{team_id}]")

    for team in teams:
        application(f"studio-{team.id}", team.issuer, certificates[team.id], team.id)
    for number in range(1, fillers + 1):
        application(f"filler-{number}", f"{ISSUER_PREFIX}FILLER{number}",
                    filler_pems[(number - 1) % len(filler_pems)], f"f{number}")
    lines.append("teams:")
    for team in teams:
        lines.extend([
            f"  - id: {team.id}",
            f'    account: "{team.account_id}"',
            f"    region: {team.region}",
            f"    domain: {{id: {team.domain_id}}}",
            f"    execution_role: {team.execution_role}",
            "    tags: {CostCenter: \"4711\"}",
        ])
    for number in range(1, fillers + 1):
        account = 500_000_000_000 + (number - 1) % max(1, accounts)
        lines.extend([
            f"  - id: f{number}",
            f'    account: "{account:012d}"',
            f"    region: {FILLER_REGIONS[number % len(FILLER_REGIONS)]}",
            f"    domain: {{id: d-filler{number}}}",
            f"    execution_role: filler{number}-execution",
            "    tags: {CostCenter: \"4711\"}",
        ])
    return "\n".join(lines) + "\n"


def acs_event(saml_response: str) -> dict[str, Any]:
    """An API Gateway (REST, proxy) event of a browser POSTing the form to the ACS."""
    headers = {
        "Host": "broker.bench.invalid",
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "Mozilla/5.0 (bench)",
        "X-Forwarded-For": "198.51.100.7",
        "X-Forwarded-Proto": "https",
    }
    return {
        "resource": "/saml/acs",
        "path": "/saml/acs",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/saml/acs",
            "httpMethod": "POST",
            "path": "/prod/saml/acs",
            "accountId": "123456789012",
            "stage": "prod",
            "requestId": "bench",
            "identity": {"sourceIp": "198.51.100.7", "userAgent": "Mozilla/5.0 (bench)"},
            "domainName": "broker.bench.invalid",
            "apiId": "bench",
        },
        "body": urllib.parse.urlencode({"SAMLResponse": saml_response}),
        "isBase64Encoded": False,
    }
