"""A policy scan of CloudFormation templates: small rules with stable ids.

- STUDIO001 no trust policy allows a wildcard principal;
- STUDIO002 a role another AWS principal may assume requires ``sts:ExternalId``;
- STUDIO003 encryption is on: SageMaker domains name a KMS key, KMS keys rotate,
  DynamoDB tables enable SSE, EFS file systems are encrypted;
- STUDIO004 no public network unless a parameter asks: no subnet maps public
  IPs, and internet gateways, NAT gateways, public addresses and routes through
  them exist only under a template ``Condition``;
- STUDIO005 no ``iam:PassRole`` on ``*``.

Templates are read with cfn-lint's decoder (short-form intrinsics become
``{"Ref": ...}`` / ``{"Fn::...": ...}``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfnlint.decode import decode, decode_str


@dataclass(frozen=True)
class Finding:
    rule: str
    resource: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule} {self.resource}: {self.message}"


def scan_file(path: Path) -> list[Finding]:
    template, matches = decode(str(path))
    assert not matches, matches
    return scan(template)


def scan_text(text: str) -> list[Finding]:
    template, matches = decode_str(text)
    assert not matches, matches
    return scan(template)


def scan(template: dict[str, Any]) -> list[Finding]:
    resources = template.get("Resources") or {}
    findings: list[Finding] = []
    for name, resource in resources.items():
        kind = resource.get("Type")
        props = resource.get("Properties") or {}
        conditional = "Condition" in resource
        if kind == "AWS::IAM::Role":
            findings += _trust(name, props.get("AssumeRolePolicyDocument") or {})
            for policy in props.get("Policies") or []:
                findings += _passrole(name, policy.get("PolicyDocument") or {})
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            findings += _passrole(name, props.get("PolicyDocument") or {})
        elif kind == "AWS::SageMaker::Domain" and not props.get("KmsKeyId"):
            findings.append(Finding("STUDIO003", name, "the domain's EFS volume needs a KMS key (KmsKeyId)"))
        elif kind == "AWS::KMS::Key" and props.get("EnableKeyRotation") is not True:
            findings.append(Finding("STUDIO003", name, "key rotation is off"))
        elif kind == "AWS::DynamoDB::Table" and (
                (props.get("SSESpecification") or {}).get("SSEEnabled") is not True):
            findings.append(Finding("STUDIO003", name, "SSESpecification.SSEEnabled is not true"))
        elif kind == "AWS::EFS::FileSystem" and props.get("Encrypted") is not True:
            findings.append(Finding("STUDIO003", name, "the file system is not encrypted"))
        elif kind == "AWS::EC2::Subnet" and props.get("MapPublicIpOnLaunch") not in (None, False, "false"):
            findings.append(Finding("STUDIO004", name, "the subnet maps public IPs on launch"))
        elif kind in ("AWS::EC2::InternetGateway", "AWS::EC2::VPCGatewayAttachment", "AWS::EC2::NatGateway",
                      "AWS::EC2::EIP", "AWS::EC2::EgressOnlyInternetGateway") and not conditional:
            findings.append(Finding("STUDIO004", name, f"{kind} without a Condition (a parameter must ask)"))
        elif kind == "AWS::EC2::Route" and not conditional and (
                "GatewayId" in props or "NatGatewayId" in props):
            findings.append(Finding("STUDIO004", name, "a route to the internet without a Condition"))
    return findings


def _statements(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    statements = document.get("Statement") or []
    yield from (statements if isinstance(statements, list) else [statements])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _trust(name: str, document: dict[str, Any]) -> list[Finding]:
    findings = []
    for statement in _statements(document):
        if statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        principals = [principal] if principal == "*" else [
            value for values in (principal or {}).values() for value in _as_list(values)]
        if "*" in principals or any(isinstance(p, str) and p.endswith(":*") for p in principals):
            findings.append(Finding("STUDIO001", name, "the trust policy allows any principal"))
        actions = _as_list(statement.get("Action"))
        aws = (principal or {}).get("AWS") if isinstance(principal, dict) else None
        external = ((statement.get("Condition") or {}).get("StringEquals") or {}).get("sts:ExternalId")
        if aws is not None and "sts:AssumeRole" in actions and not external:
            findings.append(Finding("STUDIO002", name, "another AWS principal may assume the role "
                                                       "without an sts:ExternalId condition"))
    return findings


def _passrole(name: str, document: dict[str, Any]) -> list[Finding]:
    findings = []
    for statement in _statements(document):
        actions = _as_list(statement.get("Action"))
        passes = any(a in ("iam:PassRole", "iam:*", "*") for a in actions)
        if statement.get("Effect") == "Allow" and passes and "*" in _as_list(statement.get("Resource")):
            findings.append(Finding("STUDIO005", name, "iam:PassRole on any role"))
    return findings
