"""The emulator's CloudFormation: SageMaker domains in stacks, and AWS-like StackSet operations."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from broker.aws import AwsClients

DOMAIN_TEMPLATE = """
Resources:
  Domain:
    Type: AWS::SageMaker::Domain
    Properties:
      DomainName: cfn-domain
      AuthMode: IAM
      VpcId: vpc-1
      SubnetIds: [subnet-1]
      AppNetworkAccessType: VpcOnly
      DefaultUserSettings: {ExecutionRole: arn:aws:iam::123456789012:role/r}
      DomainSettings: {ExecutionRoleIdentityConfig: USER_PROFILE_NAME}
Outputs:
  Id: {Value: !GetAtt Domain.DomainId}
  Arn: {Value: !GetAtt Domain.DomainArn}
  Ref: {Value: !Ref Domain}
"""


def test_a_stack_creates_updates_and_deletes_a_domain(clients: AwsClients) -> None:
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    sagemaker = boto3.client("sagemaker", region_name="us-east-1")
    cfn.create_stack(StackName="s", TemplateBody=DOMAIN_TEMPLATE)
    stack = cfn.describe_stacks(StackName="s")["Stacks"][0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    assert outputs == {"Id": "d-cfn-domain", "Ref": "d-cfn-domain",
                       "Arn": "arn:aws:sagemaker:us-east-1:123456789012:domain/d-cfn-domain"}
    assert sagemaker.describe_domain(DomainId="d-cfn-domain")["AppNetworkAccessType"] == "VpcOnly"

    cfn.update_stack(StackName="s", TemplateBody=DOMAIN_TEMPLATE.replace("VpcOnly", "PublicInternetOnly"))
    assert sagemaker.describe_domain(DomainId="d-cfn-domain")["AppNetworkAccessType"] == "PublicInternetOnly"

    cfn.delete_stack(StackName="s")
    assert sagemaker.list_domains()["Domains"] == []


def test_stack_set_update_reaches_deployed_stacks_and_overrides_merge(clients: AwsClients) -> None:
    template = "Parameters:\n  Name: {Type: String}\n  Kind: {Type: String}\n" \
               "Resources:\n  P: {Type: AWS::SSM::Parameter, Properties: {Name: !Ref Name, Type: String, " \
               "Value: !Ref Kind}}\n"
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    cfn.create_stack_set(StackSetName="ss", TemplateBody=template, Parameters=[
        {"ParameterKey": "Name", "ParameterValue": "/p"}, {"ParameterKey": "Kind", "ParameterValue": "a"}])
    cfn.create_stack_instances(StackSetName="ss", Accounts=["111111111111"], Regions=["us-east-1"],
                               ParameterOverrides=[{"ParameterKey": "Kind", "ParameterValue": "b"}])
    ssm = boto3.client("ssm", region_name="us-east-1")

    def value() -> str:
        creds = boto3.client("sts").assume_role(
            RoleArn="arn:aws:iam::111111111111:role/x", RoleSessionName="observer")["Credentials"]
        spoke = boto3.client("ssm", region_name="us-east-1", aws_access_key_id=creds["AccessKeyId"],
                             aws_secret_access_key=creds["SecretAccessKey"],
                             aws_session_token=creds["SessionToken"])
        return spoke.get_parameter(Name="/p")["Parameter"]["Value"]

    assert value() == "b"  # the override over the StackSet's parameters (moto: overrides only)
    cfn.update_stack_instances(StackSetName="ss", Accounts=["111111111111"], Regions=["us-east-1"],
                               ParameterOverrides=[{"ParameterKey": "Kind", "ParameterValue": "c"}])
    assert value() == "c"  # moto records the new value but leaves the stack as it was
    cfn.update_stack_instances(StackSetName="ss", Accounts=["111111111111"], Regions=["us-east-1"],
                               ParameterOverrides=[])
    assert value() == "a"  # an override left out falls back to the StackSet's value
    assert ssm.describe_parameters()["Parameters"] == []  # nothing in the hub
    with pytest.raises(ClientError, match="already exists"):
        cfn.create_stack_set(StackSetName="ss", TemplateBody=template)


@pytest.mark.parametrize(("cidrs", "limited"), [("", False), ("203.0.113.0/24,198.51.100.0/24", True)])
def test_broker_access_limits_presign_to_networks_only_when_asked(
    clients: AwsClients, cidrs: str, limited: bool
) -> None:
    from pathlib import Path

    template = (Path(__file__).resolve().parents[2] / "stacksets" / "broker-access.yaml").read_text()
    cfn = clients.hub("cloudformation", "us-east-1")
    cfn.create_stack(StackName="access", TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                     Parameters=[
                         {"ParameterKey": "HubBrokerRoleArn",
                          "ParameterValue": "arn:aws:iam::123456789012:role/broker"},
                         {"ParameterKey": "ExternalId", "ParameterValue": "ext-123"},
                         {"ParameterKey": "TeamRoleArns",
                          "ParameterValue": "arn:aws:iam::123456789012:role/studio-t-execution"},
                         {"ParameterKey": "PresignSourceCidrs", "ParameterValue": cidrs},
                     ])
    iam = clients.hub("iam")
    names = iam.list_role_policies(RoleName="StudioBrokerAccess")["PolicyNames"]
    assert ("studio-broker-presign-network" in names) is limited
    if limited:
        document = iam.get_role_policy(
            RoleName="StudioBrokerAccess", PolicyName="studio-broker-presign-network")["PolicyDocument"]
        (statement,) = document["Statement"]
        assert statement["Effect"] == "Deny" and statement["Action"] == "sagemaker:CreatePresignedDomainUrl"
        assert statement["Condition"]["NotIpAddress"]["aws:SourceIp"] == cidrs.split(",")
