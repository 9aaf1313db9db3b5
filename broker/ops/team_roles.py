"""The team execution roles of one spoke account, as a CloudFormation template.

Generated from ``routing.yaml``: one role per team routed to the account,
tagged ``Team``, and one managed ABAC policy attached to all of them. A role session carries the
role's tags as principal tags, so ``${aws:PrincipalTag/Team}`` is the team:

- create SageMaker resources only with ``aws:RequestTag/Team`` = own team, and
  Studio's spaces and apps also without that tag when they belong to a profile
  of the own team (``sagemaker:OwnerUserProfileArn``; a profile is named
  ``<team>--<user>``): Studio's own requests carry only its system tags
  (``sagemaker:user-profile-arn``, ``sagemaker:domain-arn``), and whether the
  domain's tag propagation puts the profile's Team tag into the request is not
  documented;
- tag only while creating (``sagemaker:TaggingAction``, the dependent AddTags
  of a create, when the resource has no tags yet) or own-team resources, and
  never with another team's Team tag;
- update, delete, start, stop only where ``aws:ResourceTag/Team`` = own team,
  or spaces and apps of the own team's profiles;
- never administer user profiles or domains, presign URLs, or remove the Team tag.

The output is deterministic (same teams, same text), so an unchanged routing
table means an unchanged StackSet.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from broker.config import Team

TEAM_TAG = "Team"
OWN_TEAM = "${aws:PrincipalTag/Team}"
ABAC_POLICY_ID = "TeamAbacPolicy"  # the account's one ABAC policy, attached to every team role

# Creating these takes a Team tag in the request (the condition key exists for them).
_TAGGED_CREATES = [
    "sagemaker:CreateApp",
    "sagemaker:CreateSpace",
    "sagemaker:CreateTrainingJob",
    "sagemaker:CreateProcessingJob",
    "sagemaker:CreateModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:CreateEndpoint",
    "sagemaker:CreateExperiment",
    "sagemaker:CreatePipeline",
]
# The dependent AddTags of each create above names the create (Service Authorization Reference).
_TAGGING_ACTIONS = [action.removeprefix("sagemaker:") for action in _TAGGED_CREATES]
# What Studio does in a space or app; the condition key names the space's owner.
_STUDIO_OWNED = [
    "sagemaker:CreateSpace",
    "sagemaker:UpdateSpace",
    "sagemaker:DeleteSpace",
    "sagemaker:CreateApp",
    "sagemaker:DeleteApp",
]
_PROFILES_ARN = "arn:${AWS::Partition}:sagemaker:*:${AWS::AccountId}"
_OWN_TEAM_PROFILES = _PROFILES_ARN + ":user-profile/*/${!aws:PrincipalTag/Team}--*"
# An app of a profile itself (no space, so no owner): app/<domain>/<profile>/<type>/<name>.
_OWN_TEAM_PROFILE_APPS = _PROFILES_ARN + ":app/*/${!aws:PrincipalTag/Team}--*/*/*"
_MANAGE = [
    "sagemaker:Update*",
    "sagemaker:Delete*",
    "sagemaker:Start*",
    "sagemaker:Stop*",
]
_ADMINISTRATION = [
    "sagemaker:CreateUserProfile",
    "sagemaker:UpdateUserProfile",
    "sagemaker:DeleteUserProfile",
    "sagemaker:CreateDomain",
    "sagemaker:UpdateDomain",
    "sagemaker:DeleteDomain",
    "sagemaker:CreatePresignedDomainUrl",
]


def role_path_and_name(role_arn: str) -> tuple[str, str]:
    """``arn:aws:iam::1:role/a/b/name`` -> (``/a/b/``, ``name``)."""
    resource = role_arn.split(":", 5)[5].removeprefix("role/")
    path, _, name = resource.rpartition("/")
    return (f"/{path}/" if path else "/"), name


def logical_id(team_id: str) -> str:
    """A CloudFormation logical id for the team's role (letters and digits only)."""
    return "Team" + "".join(part.capitalize() for part in team_id.split("-")) + "ExecutionRole"


def abac_policy() -> dict[str, Any]:
    """The ABAC policy every team execution role carries."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadSageMaker", "Effect": "Allow",
             "Action": ["sagemaker:Describe*", "sagemaker:List*", "sagemaker:Search",
                        "sagemaker:GetSagemakerServicecatalogPortfolioStatus"],
             "Resource": "*"},
            {"Sid": "CreateOnlyForOwnTeam", "Effect": "Allow", "Action": _TAGGED_CREATES,
             "Resource": "*",
             "Condition": {"StringEquals": {f"aws:RequestTag/{TEAM_TAG}": OWN_TEAM}}},
            {"Sid": "StudioSpacesAndAppsOfOwnTeamProfiles", "Effect": "Allow", "Action": _STUDIO_OWNED,
             "Resource": "*",
             "Condition": {"ArnLike": {"sagemaker:OwnerUserProfileArn": _sub(_OWN_TEAM_PROFILES)}}},
            {"Sid": "ProfileAppsOfOwnTeamProfiles", "Effect": "Allow",
             "Action": ["sagemaker:CreateApp", "sagemaker:DeleteApp"],
             "Resource": _sub(_OWN_TEAM_PROFILE_APPS),
             "Condition": {"Null": {"sagemaker:OwnerUserProfileArn": "true"}}},
            {"Sid": "TagWhileCreating", "Effect": "Allow", "Action": "sagemaker:AddTags",
             "Resource": "*",
             "Condition": {"StringEquals": {"sagemaker:TaggingAction": _TAGGING_ACTIONS}}},
            {"Sid": "TagOwnTeamResources", "Effect": "Allow", "Action": "sagemaker:AddTags",
             "Resource": "*",
             "Condition": {"StringEquals": {f"aws:ResourceTag/{TEAM_TAG}": OWN_TEAM}}},
            {"Sid": "ManageOnlyOwnTeam", "Effect": "Allow", "Action": _MANAGE, "Resource": "*",
             "Condition": {"StringEquals": {f"aws:ResourceTag/{TEAM_TAG}": OWN_TEAM}}},
            {"Sid": "NoOtherTeamsTag", "Effect": "Deny",
             "Action": ["sagemaker:AddTags", *_TAGGED_CREATES], "Resource": "*",
             "Condition": {"StringNotEquals": {f"aws:RequestTag/{TEAM_TAG}": OWN_TEAM},
                           "Null": {f"aws:RequestTag/{TEAM_TAG}": "false"}}},
            {"Sid": "NoProfileOrDomainAdministration", "Effect": "Deny", "Action": _ADMINISTRATION,
             "Resource": "*"},
            {"Sid": "TeamTagIsFixed", "Effect": "Deny", "Action": "sagemaker:DeleteTags",
             "Resource": "*",
             "Condition": {"ForAnyValue:StringEquals": {"aws:TagKeys": [TEAM_TAG]}}},
        ],
    }


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def team_roles_template(account_id: str, teams: Iterable[Team]) -> str:
    """The CloudFormation template (YAML text) of the execution roles of ``teams`` in ``account_id``."""
    chosen = sorted((t for t in teams if t.account_id == account_id), key=lambda t: t.id)
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for team in chosen:
        path, name = role_path_and_name(team.execution_role_arn)
        key = logical_id(team.id)
        resources[key] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": name,
                "Path": path,
                "Description": f"SageMaker Studio execution role of team {team.id}",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [{
                        "Effect": "Allow",
                        "Principal": {"Service": "sagemaker.amazonaws.com"},
                        # SetSourceIdentity: the domain puts the profile name into SourceIdentity.
                        "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                    }],
                },
                "Tags": [{"Key": TEAM_TAG, "Value": team.id}],
            },
        }
        outputs[key + "Arn"] = {"Value": {"Fn::GetAtt": [key, "Arn"]}}
    if resources:
        # One managed policy for every role of the account: the policy is the same for all (the
        # team comes from the role's Team tag), and inline per role it made the template grow by
        # ~4.9 KB a team, past CloudFormation's 51,200-byte TemplateBody at 11 teams.
        resources[ABAC_POLICY_ID] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": "Studio team ABAC: each role acts only on its own team's resources "
                               "(the team is the role's Team tag)",
                "PolicyDocument": abac_policy(),
                "Roles": [{"Ref": key} for key in resources],
            },
        }
    else:
        # A template needs a resource; an account without teams keeps none of its roles.
        resources["NoTeams"] = {"Type": "AWS::CloudFormation::WaitConditionHandle"}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Studio team execution roles of one spoke account "
                       "(generated from routing.yaml by `broker rollout`; do not edit)",
        "Resources": resources,
    }
    if outputs:
        template["Outputs"] = outputs
    # JSON-compatible YAML without anchors: stable text for an exact comparison.
    return yaml.safe_dump(json.loads(json.dumps(template)), sort_keys=False, width=120)
