"""The broker's real calls against the broker-access role as deployed, and the same calls bent.

A sign-in runs through the real handler against the emulator while every call
is recorded; each call becomes the authorization requests IAM makes of it
(:mod:`.calls`), evaluated against the role the rollout deploys to that spoke
(:mod:`.deployed`): its identity policies for the spoke calls, its trust policy
and the hub's statement for AssumeRole. Every request of a real sign-in must
be allowed; the same request for another person, another team, with other
tags, without SourceIdentity or from elsewhere must be denied.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pytest

from broker.config import RoutingTable
from broker.profile_name import profile_name_for
from tests.functional.conftest import SPOKES, Landscape

from .calls import (
    CallRecorder,
    ProfileBook,
    assume_role_requests,
    broker_requests,
    request_tags,
    tags_context,
    with_context,
)
from .deployed import ORGANIZATION_ID, broker_access_role, hub_assume_policy, registry
from .evaluator import Decision, Request, Result, evaluate

TEAM1, TEAM2 = SPOKES
HUB_ROLE = registry().settings.broker_role_arn
SIGN_IN_ACTIONS = {
    "sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity", "sagemaker:DescribeUserProfile",
    "sagemaker:CreateUserProfile", "sagemaker:AddTags", "iam:PassRole",
    "sagemaker:CreatePresignedDomainUrl",
}


@dataclass(frozen=True)
class SignIn:
    """The authorization requests of recorded sign-ins, and how the deployed policies decide them."""

    routing: RoutingTable
    requests: tuple[Request, ...]

    @classmethod
    def of(cls, landscape: Landscape, recorder: CallRecorder) -> SignIn:
        book = ProfileBook()
        requests: list[Request] = []
        for call in recorder.calls:
            if call.session is None:
                if call.operation == "AssumeRole":
                    requests += assume_role_requests(call.params, HUB_ROLE, org_id=ORGANIZATION_ID)
                continue  # the hub's own calls (DynamoDB) are template.yaml's business
            role = broker_access_role(landscape.routing, call.session.account_id)
            requests += broker_requests(call, role.tags, book)
        return cls(landscape.routing, tuple(requests))

    def request_of(self, action: str) -> Request:
        return next(r for r in self.requests if r.action == action)

    def decide(self, request: Request, **overrides: str) -> Result:
        if request.action.startswith("sts:"):
            role = broker_access_role(self.routing, request.resource.split(":")[4], **overrides)
            return evaluate(request, [hub_assume_policy()], role.trust)
        role = broker_access_role(self.routing, request.principal.split(":")[4], **overrides)
        return evaluate(request, role.identity)

    def denied(self, request: Request, **overrides: str) -> bool:
        return self.decide(request, **overrides).decision is not Decision.ALLOW


@pytest.mark.parametrize("user", [
    "user1", "alice@example.com", "o'brien<script>@example.com", "X" * 80 + "@example.com"])
@pytest.mark.parametrize("spoke", SPOKES, ids=lambda s: s.team_id)
def test_every_request_of_a_first_and_a_warm_sign_in_is_allowed(
    landscape: Landscape, recorder: CallRecorder, user: str, spoke: Any
) -> None:
    for _ in range(2):
        assert landscape.sign_in(user, spoke.team_id)["statusCode"] == 302
    signed_in = SignIn.of(landscape, recorder)
    assert {r.action for r in signed_in.requests} == SIGN_IN_ACTIONS
    refused = [(r.action, r.resource, result) for r in signed_in.requests
               if not (result := signed_in.decide(r)).allowed]
    assert refused == []


_FIRST_SIGN_IN: list[SignIn] = []  # recorded once: every test below only bends its requests


@pytest.fixture
def signed_in(request: pytest.FixtureRequest) -> SignIn:
    """user1's first sign-in to team1, recorded against the emulator once for this module."""
    if not _FIRST_SIGN_IN:
        landscape = request.getfixturevalue("landscape")
        recorder = request.getfixturevalue("recorder")
        assert landscape.sign_in("user1", "team1")["statusCode"] == 302
        _FIRST_SIGN_IN.append(SignIn.of(landscape, recorder))
    return _FIRST_SIGN_IN[0]


def on_profile(request: Request, name: str, tags: Mapping[str, str] | None = None) -> Request:
    """``request`` aimed at profile ``name`` of the same domain (with those resource tags)."""
    arn = request.resource.rsplit("/", 1)[0] + "/" + name
    changed = replace(request, resource=arn)
    if tags is None:
        return changed
    stale = {k: None for k in request.context if "ResourceTag/" in k}
    return with_context(changed, stale | tags_context("ResourceTag", tags, "sagemaker"))


PROFILE_ACTIONS = ["sagemaker:DescribeUserProfile", "sagemaker:CreateUserProfile", "sagemaker:AddTags",
                   "sagemaker:CreatePresignedDomainUrl"]


@pytest.mark.parametrize("action", PROFILE_ACTIONS)
def test_another_persons_profile_of_the_same_team_is_denied(signed_in: SignIn, action: str) -> None:
    other = on_profile(signed_in.request_of(action), profile_name_for("user2", "team1"),
                       {"Team": "team1", "User": "user2", "CostCenter": "4711"})
    assert signed_in.denied(other)


@pytest.mark.parametrize("action", PROFILE_ACTIONS)
def test_another_teams_profile_is_denied(signed_in: SignIn, action: str) -> None:
    other = on_profile(signed_in.request_of(action), profile_name_for("user1", "team2"),
                       {"Team": "team2", "User": "user1"})
    assert signed_in.denied(other)


@pytest.mark.parametrize("action", ["sagemaker:CreateUserProfile", "sagemaker:AddTags"])
@pytest.mark.parametrize(("key", "value"), [("User", "user2"), ("Team", "team2"), ("User", None),
                                            ("Team", None)])
def test_a_create_with_other_or_missing_person_tags_is_denied(
    signed_in: SignIn, action: str, key: str, value: str | None
) -> None:
    request = signed_in.request_of(action)
    tags = {k: v for k, v in (request_tags(request) | {key: value}).items() if v is not None}
    stale = {k: None for k in request.context if "RequestTag/" in k}
    assert signed_in.denied(with_context(request, stale | tags_context("RequestTag", tags)))


@pytest.mark.parametrize(("key", "value"), [("User", "user2"), ("Team", "team2"), ("User", None)])
def test_a_presign_of_a_profile_tagged_for_someone_else_is_denied(
    signed_in: SignIn, key: str, value: str | None
) -> None:
    request = signed_in.request_of("sagemaker:CreatePresignedDomainUrl")
    changed = {f"{prefix}:ResourceTag/{key}": value for prefix in ("aws", "sagemaker")}
    assert signed_in.denied(with_context(request, changed))


@pytest.mark.parametrize("tagging_action", [None, "UpdateUserProfile", "CreateSpace"])
def test_add_tags_outside_the_profiles_create_is_denied(
    signed_in: SignIn, tagging_action: str | None
) -> None:
    request = signed_in.request_of("sagemaker:AddTags")
    assert signed_in.denied(with_context(request, {"sagemaker:TaggingAction": tagging_action}))


@pytest.mark.parametrize("action", PROFILE_ACTIONS + ["iam:PassRole"])
def test_a_spoke_call_without_source_identity_is_denied(signed_in: SignIn, action: str) -> None:
    assert signed_in.denied(with_context(signed_in.request_of(action), {"aws:SourceIdentity": None}))


def test_describe_is_bound_to_the_profile_arn_not_any_resource(signed_in: SignIn) -> None:
    describe = signed_in.request_of("sagemaker:DescribeUserProfile")
    assert "ResourceTag" not in " ".join(describe.context)  # the first sign-in: no profile yet
    assert signed_in.denied(replace(describe, resource="*"))
    space = describe.resource.replace(":user-profile/", ":space/")
    assert signed_in.denied(replace(describe, resource=space))


@pytest.mark.parametrize(("role", "service"), [
    ("arn:aws:iam::111111111111:role/studio-team2-execution", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::111111111111:role/Admin", "sagemaker.amazonaws.com"),
    ("arn:aws:iam::111111111111:role/studio-team1-execution", "ec2.amazonaws.com"),
])
def test_pass_role_only_of_the_spokes_team_roles_to_sagemaker(
    signed_in: SignIn, role: str, service: str
) -> None:
    request = replace(signed_in.request_of("iam:PassRole"), resource=role)
    assert signed_in.denied(with_context(request, {"iam:PassedToService": service}))


def _assume(signed_in: SignIn, **params: Any) -> list[Request]:
    request = signed_in.request_of("sts:AssumeRole")
    tags = request_tags(request)
    base: dict[str, Any] = {
        "RoleArn": request.resource, "RoleSessionName": request.context["sts:RoleSessionName"],
        "SourceIdentity": request.context["sts:SourceIdentity"],
        "ExternalId": request.context["sts:ExternalId"],
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    merged = {k: v for k, v in (base | params).items() if v is not None}
    return assume_role_requests(merged, HUB_ROLE, org_id=ORGANIZATION_ID)


def test_assume_role_as_the_broker_makes_it_is_allowed(signed_in: SignIn) -> None:
    assert all(signed_in.decide(r).allowed for r in _assume(signed_in))


@pytest.mark.parametrize("change", [
    {"SourceIdentity": None}, {"ExternalId": None}, {"ExternalId": "guessed"}, {"Tags": None},
    {"Tags": [{"Key": "User", "Value": "user1"}, {"Key": "Team", "Value": "team1"}]},
    {"Tags": [{"Key": "User", "Value": "user1"}, {"Key": "Profile", "Value": "team1--user1"}]},
    {"Tags": [{"Key": "Team", "Value": "team1"}, {"Key": "Profile", "Value": "team1--user1"}]},
    {"Tags": [{"Key": "User", "Value": "user1"}, {"Key": "Team", "Value": "team1"},
              {"Key": "Profile", "Value": "team1--user1"}, {"Key": "Admin", "Value": "true"}]},
], ids=["no-source-identity", "no-external-id", "wrong-external-id", "no-tags", "no-profile-tag",
        "no-team-tag", "no-user-tag", "an-extra-tag"])
def test_assume_role_without_the_person_or_the_secret_is_denied(
    signed_in: SignIn, change: dict[str, Any]
) -> None:
    assert any(not signed_in.decide(r).allowed for r in _assume(signed_in, **change))


def test_assume_role_by_another_principal_is_denied(signed_in: SignIn) -> None:
    other = [replace(r, principal="arn:aws:iam::123456789012:role/somebody-else") for r in _assume(signed_in)]
    assert all(not signed_in.decide(r).allowed for r in other)


def test_presign_source_cidrs_refuse_the_hub_lambda_as_shipped(signed_in: SignIn) -> None:
    """The shipped hub Lambda has no VPC: its egress addresses are AWS's, never in the list."""
    presign = signed_in.request_of("sagemaker:CreatePresignedDomainUrl")
    limited = {"PresignSourceCidrs": "203.0.113.0/24,198.51.100.0/24"}
    assert signed_in.decide(presign).allowed
    assert signed_in.decide(presign, **limited).decision is Decision.EXPLICIT_DENY
    from_nat = with_context(presign, {"aws:SourceIp": "203.0.113.7"})  # a NAT Elastic IP listed
    assert signed_in.decide(from_nat, **limited).allowed


def test_a_team_routed_by_domain_name_may_list_domains(signed_in: SignIn) -> None:
    describe = signed_in.request_of("sagemaker:DescribeUserProfile")
    assert signed_in.decide(replace(describe, action="sagemaker:ListDomains", resource="*")).allowed
