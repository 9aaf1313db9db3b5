"""The spoke reconcile role (stacksets/broker-access.yaml ReconcileRole) against reconcile's real calls.

Reconcile surveys and applies against the emulated spokes while every call is
recorded; each SageMaker call becomes the authorization request IAM makes of
it (Service Authorization Reference: the List actions take no resource, the
others the ARN of the profile, space or app they name), evaluated against the
role as the rollout deploys it with a hub reconcile role set. Every request
made must be allowed; creating, updating, presigning, passing a role, the
domain itself and another account's resources must be refused, and only the
hub's reconcile role, with the spoke's ExternalId, may assume the role.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from broker import reconcile
from broker.aws import AwsClients
from broker.config import RoutingTable
from broker.membership import MembershipResolver
from broker.ops.stacksets import desired_stack_sets
from tests.ops.world import TEAM1, TEAM2, build_world, routing

from .calls import Call, CallRecorder, sagemaker_arn
from .cloudformation import Stack, load_template
from .deployed import Role, reconcile_role, registry
from .evaluator import Policy, Request, evaluate

REPO = Path(__file__).resolve().parent.parent.parent
HUB_RECONCILE = "arn:aws:iam::123456789012:role/studio-broker-ReconcileRole-1A2B"
RECONCILE_ACTIONS = {
    "sagemaker:ListDomains", "sagemaker:ListUserProfiles", "sagemaker:ListSpaces", "sagemaker:ListApps",
    "sagemaker:ListTags", "sagemaker:DescribeSpace", "sagemaker:DeleteApp", "sagemaker:DeleteSpace",
    "sagemaker:DeleteUserProfile",
}
# The caller's side granted in full: these tests are about the spoke's trust policy.
HUB_GRANT = Policy.of({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "sts:*", "Resource": "*"}]}, "hub")
UNRESOURCED = {"ListDomains", "ListUserProfiles", "ListSpaces", "ListApps"}


def role(table: RoutingTable, account_id: str) -> Role:
    return reconcile_role(table, account_id, ReconcileRoleArn=HUB_RECONCILE)


def session(account_id: str) -> str:
    return f"arn:aws:sts::{account_id}:assumed-role/StudioBrokerReconcile/{reconcile.SESSION_NAME}"


def request_of(call: Call) -> Request:
    """The authorization request of one SageMaker call reconcile makes in a spoke."""
    assert call.session is not None
    account, params, op = call.session.account_id, call.params, call.operation
    if op in UNRESOURCED:
        resource = "*"
    elif op == "ListTags":
        resource = params["ResourceArn"]
    elif op in ("DescribeSpace", "DeleteSpace"):
        resource = sagemaker_arn(call.region, account, f"space/{params['DomainId']}/{params['SpaceName']}")
    elif op == "DeleteUserProfile":
        resource = sagemaker_arn(call.region, account,
                                 f"user-profile/{params['DomainId']}/{params['UserProfileName']}")
    elif op == "DeleteApp":
        owner = params.get("SpaceName") or params["UserProfileName"]
        resource = sagemaker_arn(call.region, account, f"app/{params['DomainId']}/{owner}/"
                                                        f"{params['AppType']}/{params['AppName']}")
    else:
        raise AssertionError(f"reconcile makes a call this test does not know: {op}")
    return Request(f"sagemaker:{op}", resource, session(account))


@pytest.fixture
def recorded(emulated_aws: None) -> list[Call]:
    build_world()
    clients = AwsClients()
    recorder = CallRecorder().attach(clients)
    table = routing()
    assert table.identity_store is not None
    spokes = reconcile.spoke_role_clients(clients, "StudioBrokerReconcile",
                                          reconcile.spoke_external_ids(table))
    report = reconcile.survey(table, spokes, MembershipResolver(clients, table.identity_store))
    reconcile.apply(report, spokes, 5, waiting=reconcile.Waiting(poll_seconds=0.05, timeout_seconds=10))
    assert {f.action for f in report.orphans} == {"deleted"}
    return recorder.calls


def test_every_spoke_call_of_a_survey_and_an_apply_is_allowed(recorded: list[Call]) -> None:
    table = routing()
    spoke_calls = [c for c in recorded if c.service == "sagemaker"]
    assert {c.operation for c in spoke_calls} >= {"DeleteApp", "DeleteSpace", "DeleteUserProfile"}
    for call in spoke_calls:
        request = request_of(call)
        assert evaluate(request, role(table, request.principal.split(":")[4]).identity).allowed, request


def test_the_role_allows_exactly_the_actions_reconcile_makes(recorded: list[Call]) -> None:
    made = {f"sagemaker:{c.operation}" for c in recorded if c.service == "sagemaker"}
    # ListDomains only for a team routed by domain name (the test world names domain ids)
    assert made | {"sagemaker:ListDomains"} == RECONCILE_ACTIONS
    granted = {action for policy in role(routing(), TEAM1[0]).identity for s in policy.statements
               if s["Effect"] == "Allow" for action in ([s["Action"]] if isinstance(s["Action"], str)
                                                          else s["Action"])}
    assert granted == RECONCILE_ACTIONS


def test_the_calls_in_the_code_are_the_ones_the_role_allows() -> None:
    """A new SageMaker call in broker/reconcile.py fails here until the role allows it."""
    source = (REPO / "broker" / "reconcile.py").read_text(encoding="utf-8")
    called = set(re.findall(r"sagemaker\.(?:get_paginator\(\")?([a-z_]+)", source)) - {"get_paginator"}
    actions = {"sagemaker:" + "".join(part.title() for part in name.split("_")) for name in called}
    assert actions == RECONCILE_ACTIONS


def test_listing_domains_is_allowed() -> None:
    request = Request("sagemaker:ListDomains", "*", session(TEAM1[0]))
    assert evaluate(request, role(routing(), TEAM1[0]).identity).allowed


@pytest.mark.parametrize(("action", "resource"), [
    ("sagemaker:CreatePresignedDomainUrl", "user-profile/d-team1studio/team1--alice"),
    ("sagemaker:CreateUserProfile", "user-profile/d-team1studio/team1--mallory"),
    ("sagemaker:UpdateUserProfile", "user-profile/d-team1studio/team1--alice"),
    ("sagemaker:CreateSpace", "space/d-team1studio/new-space"),
    ("sagemaker:UpdateSpace", "space/d-team1studio/bob-space"),
    ("sagemaker:CreateApp", "app/d-team1studio/team1--alice/JupyterLab/default"),
    ("sagemaker:AddTags", "user-profile/d-team1studio/team1--alice"),
    ("sagemaker:DeleteTags", "user-profile/d-team1studio/team1--alice"),
    ("sagemaker:UpdateDomain", "domain/d-team1studio"),
    ("sagemaker:DeleteDomain", "domain/d-team1studio"),
    ("sagemaker:CreateDomain", "domain/d-new"),
    ("sagemaker:DescribeDomain", "domain/d-team1studio"),
    ("sagemaker:ListTags", "domain/d-team1studio"),
    ("sagemaker:CreatePresignedNotebookInstanceUrl", "notebook-instance/n"),
])
def test_it_never_creates_updates_presigns_or_touches_the_domain(action: str, resource: str) -> None:
    account, region = TEAM1[0], TEAM1[1]
    request = Request(action, sagemaker_arn(region, account, resource), session(account))
    assert not evaluate(request, role(routing(), account).identity).allowed


def test_it_never_passes_a_role() -> None:
    request = Request("iam:PassRole", "arn:aws:iam::111111111111:role/team1-execution", session(TEAM1[0]))
    assert not evaluate(request, role(routing(), TEAM1[0]).identity).allowed


@pytest.mark.parametrize("resource", [
    "user-profile/d-other/team2--bob", "space/d-other/bob-space",
    "app/d-other/team2--bob/JupyterLab/default"])
@pytest.mark.parametrize("action", ["sagemaker:DeleteUserProfile", "sagemaker:DeleteSpace",
                                    "sagemaker:DeleteApp", "sagemaker:DescribeSpace", "sagemaker:ListTags"])
def test_another_accounts_resources_are_out_of_reach(action: str, resource: str) -> None:
    request = Request(action, sagemaker_arn(TEAM1[1], "999999999999", resource), session(TEAM1[0]))
    assert not evaluate(request, role(routing(), TEAM1[0]).identity).allowed


def assume(caller: str, external_id: str | None, account_id: str = TEAM1[0]) -> Request:
    context = {"sts:ExternalId": external_id} if external_id is not None else {}
    return Request("sts:AssumeRole", f"arn:aws:iam::{account_id}:role/StudioBrokerReconcile", caller, context)


def test_reconcile_assumes_it_as_the_trust_policy_asks(recorded: list[Call]) -> None:
    table = routing()
    assumed = [c for c in recorded if c.operation == "AssumeRole" and c.session is None
               and c.params["RoleArn"].endswith(":role/StudioBrokerReconcile")]
    assert {c.params["RoleArn"].split(":")[4] for c in assumed} == {TEAM1[0], TEAM2[0]}
    for call in assumed:
        account = call.params["RoleArn"].split(":")[4]
        # no SourceIdentity and no session tags: the trust policy needs grant neither
        assert set(call.params) == {"RoleArn", "RoleSessionName", "ExternalId"}
        request = assume(HUB_RECONCILE, call.params["ExternalId"], account)
        assert evaluate(request, [HUB_GRANT], role(table, account).trust).allowed
    assert [s["Action"] for s in role(table, TEAM1[0]).trust.statements] == ["sts:AssumeRole"]


def test_only_the_hub_reconcile_role_with_the_external_id_may_assume_it() -> None:
    table = routing()
    external_id = reconcile.spoke_external_ids(table)[TEAM1[0]]
    trust = role(table, TEAM1[0]).trust
    hub = [HUB_GRANT]
    assert evaluate(assume(HUB_RECONCILE, external_id), hub, trust).allowed
    assert not evaluate(assume(HUB_RECONCILE, None), hub, trust).allowed
    assert not evaluate(assume(HUB_RECONCILE, "wrong"), hub, trust).allowed
    broker = registry().settings.broker_role_arn
    for stranger in (broker, "arn:aws:iam::123456789012:root", "arn:aws:iam::123456789012:role/Admin",
                     "arn:aws:iam::777777777777:role/studio-broker-ReconcileRole-1A2B"):
        assert not evaluate(assume(stranger, external_id), hub, trust).allowed, stranger
    for action in ("sts:TagSession", "sts:SetSourceIdentity"):
        request = Request(action, assume(HUB_RECONCILE, external_id).resource, HUB_RECONCILE,
                          {"sts:ExternalId": external_id})
        assert not evaluate(request, hub, trust).allowed, action


def test_without_a_hub_reconcile_role_the_spoke_gets_none() -> None:
    (spec,) = [s for s in desired_stack_sets(registry(), routing()) if s.name.endswith("-spoke-access")]
    assert spec.parameters["ReconcileRoleArn"] == ""  # accounts/rollout.yaml names none
    template = load_template(spec.template)
    target = spec.target(TEAM1[0], TEAM1[1])
    assert target is not None
    unset = Stack(template, {**spec.parameters, **target.overrides}, account_id=TEAM1[0])
    assert not unset.condition("HasReconcileRole")
    assert "ReconcileRole" not in unset.resources()
    assert "BrokerAccessRole" in unset.resources()
    given = Stack(template, {**spec.parameters, **target.overrides, "ReconcileRoleArn": HUB_RECONCILE},
                  account_id=TEAM1[0])
    assert given.resources()["ReconcileRole"]["Properties"]["RoleName"] == "StudioBrokerReconcile"
