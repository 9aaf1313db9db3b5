"""Every template passes cfn-lint (SAM included) and the project's policy scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cfnlint.api import lint_file

from broker.config import DomainRef, SpokeAccess, Team, frozen_mapping
from broker.ops.stacksets import declared_parameters
from broker.ops.team_roles import team_roles_template
from tests.policies.cloudformation import load_template

from .policy_scan import scan_file, scan_text

REPO = Path(__file__).parent.parent.parent
TEMPLATES = sorted((REPO / "stacksets").glob("*.yaml")) + [REPO / "template.yaml"]


def teams() -> list[Team]:
    return [
        Team(id=team_id, account_id="111111111111", region="us-east-1", domain=DomainRef(name="d"),
             execution_role_arn=f"arn:aws:iam::111111111111:role/{path}studio-{team_id}-execution",
             tags=frozen_mapping({}), user_settings=frozen_mapping({}), spoke_access=SpokeAccess())
        for team_id, path in (("team1", ""), ("data-eng", "teams/"))
    ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("generated") / "team-roles-111111111111.yaml"
    path.write_text(team_roles_template("111111111111", teams()))
    return path


def test_the_template_set_is_complete() -> None:
    assert [p.name for p in TEMPLATES] == [
        "broker-access.yaml", "domain.yaml", "identity-store-reader.yaml", "network.yaml", "template.yaml"]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_cfn_lint_passes(path: Path) -> None:
    assert [str(m) for m in lint_file(path)] == []


def test_cfn_lint_passes_on_a_generated_team_roles_template(generated: Path) -> None:
    assert [str(m) for m in lint_file(generated)] == []


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_policy_scan_passes(path: Path) -> None:
    assert [str(f) for f in scan_file(path)] == []


def test_policy_scan_passes_on_generated_team_roles(generated: Path) -> None:
    assert [str(f) for f in scan_file(generated)] == []


def test_no_account_id_is_hard_coded_in_the_spoke_templates() -> None:
    for path in (REPO / "stacksets").glob("*.yaml"):
        text = path.read_text()
        assert not any(word.isdigit() and len(word) == 12 for word in
                       text.replace(":", " ").replace("/", " ").split()), path


@pytest.mark.parametrize("path", [*TEMPLATES, None], ids=lambda p: p.name if p else "generated-team-roles")
def test_no_partition_is_hard_coded_in_what_a_template_makes(path: Path | None, generated: Path) -> None:
    # A GovCloud or China hub deploys the same templates: every ARN they build takes
    # ${AWS::Partition}. (Parameters may name arn:aws(-cn|-us-gov)? in a pattern or a description.)
    template = load_template((path or generated).read_text())
    made = json.dumps({key: template.get(key) for key in ("Resources", "Outputs", "Conditions")})
    assert "arn:aws:" not in made and "arn:aws-" not in made


def test_the_generated_roles_carry_the_team_tag_and_abac() -> None:
    text = team_roles_template("111111111111", teams())
    assert text == team_roles_template("111111111111", list(reversed(teams())))  # deterministic
    assert "RoleName: studio-data-eng-execution" in text and "Path: /teams/" in text
    assert text.count("Key: Team") == 2
    assert "aws:RequestTag/Team: ${aws:PrincipalTag/Team}" in text
    assert "aws:ResourceTag/Team: ${aws:PrincipalTag/Team}" in text
    assert "sagemaker:TaggingAction:" in text  # a create's dependent AddTags (tests/policies)
    assert "sagemaker:OwnerUserProfileArn:" in text  # Studio's spaces and apps (tests/policies)
    assert "Sid: NoProfileOrDomainAdministration" in text


def test_the_broker_access_parameters_are_what_the_rollout_passes() -> None:
    declared = declared_parameters((REPO / "stacksets/broker-access.yaml").read_text())
    # PresignSourceCidrs is optional (empty default: no network condition); the reconcile role's
    # two come from accounts/rollout.yaml (the StackSet's shared values)
    assert set(declared) - {"PresignSourceCidrs"} == {
        "HubBrokerRoleArn", "ExternalId", "RoleName", "TeamRoleArns", "MaxSessionDuration",
        "ReconcileRoleArn", "ReconcileRoleName"}


BAD = """
Parameters:
  Hub: {Type: String}
Resources:
  Open:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {AWS: "*"}, Action: sts:AssumeRole,
             Condition: {StringEquals: {sts:ExternalId: x}}}
  NoExternalId:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement:
          - {Effect: Allow, Principal: {AWS: !Ref Hub}, Action: sts:AssumeRole}
      Policies:
        - PolicyName: p
          PolicyDocument:
            Statement: [{Effect: Allow, Action: iam:PassRole, Resource: "*"}]
  Domain:
    Type: AWS::SageMaker::Domain
    Properties: {DomainName: d, AuthMode: IAM, VpcId: v, SubnetIds: [s], DefaultUserSettings: {}}
  Table:
    Type: AWS::DynamoDB::Table
    Properties: {KeySchema: [], AttributeDefinitions: []}
  Key:
    Type: AWS::KMS::Key
    Properties: {KeyPolicy: {}}
  Public:
    Type: AWS::EC2::Subnet
    Properties: {VpcId: v, CidrBlock: 10.0.0.0/24, MapPublicIpOnLaunch: true}
  Gateway:
    Type: AWS::EC2::InternetGateway
  ToInternet:
    Type: AWS::EC2::Route
    Properties: {RouteTableId: r, DestinationCidrBlock: 0.0.0.0/0, GatewayId: !Ref Gateway}
"""


def test_policy_scan_finds_each_rule_in_a_bad_template() -> None:
    found = {(f.rule, f.resource) for f in scan_text(BAD)}
    assert found == {
        ("STUDIO001", "Open"), ("STUDIO002", "NoExternalId"), ("STUDIO005", "NoExternalId"),
        ("STUDIO003", "Domain"), ("STUDIO003", "Table"), ("STUDIO003", "Key"),
        ("STUDIO004", "Public"), ("STUDIO004", "Gateway"), ("STUDIO004", "ToInternet"),
    }
