"""The Identity Store reader role (stacksets/identity-store-reader.yaml) against the calls really made.

The membership resolver and reconcile run against the emulated Identity Store
while every Identity Store call is recorded; each becomes the authorization
requests IAM makes of it, after the Service Authorization Reference for AWS
Identity Store: the action on the identity store's ARN and on the user, group
or membership ARNs it names (those carry no account). Every request made must
be allowed; any write, another identity store, and any caller but the hub's
broker role or a named reconcile role (with the ExternalId) must be refused.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from broker import emulator
from broker.aws import AwsClients
from broker.config import IdentityStoreRef
from broker.membership import MembershipResolver

from .cloudformation import Stack, load_template, role_policies
from .evaluator import Policy, Request, evaluate

REPO = Path(__file__).resolve().parent.parent.parent
IC_ACCOUNT, HUB = "999999999999", "123456789012"
STORE = "d-9999999999"
EXTERNAL_ID = "studio-broker-ids-7f3c"
BROKER_ROLE = f"arn:aws:iam::{HUB}:role/studio-broker"
RECONCILE_ROLE = f"arn:aws:iam::{HUB}:role/studio-broker-ReconcileRole-1A2B"
READER = f"arn:aws:iam::{IC_ACCOUNT}:role/StudioBrokerIdentityStoreReader"
SESSION = f"arn:aws:sts::{IC_ACCOUNT}:assumed-role/StudioBrokerIdentityStoreReader/studio-broker-membership"


def stack(**overrides: str) -> Stack:
    template = load_template((REPO / "stacksets" / "identity-store-reader.yaml").read_text())
    parameters = {"HubBrokerRoleArn": BROKER_ROLE, "ExternalId": EXTERNAL_ID, "IdentityStoreId": STORE,
                  **overrides}
    return Stack(template, parameters, account_id=IC_ACCOUNT)


def identity(deployed: Stack) -> list[Policy]:
    return [Policy.of(doc, name) for name, doc in role_policies(deployed, "IdentityStoreReaderRole")]


def trust(deployed: Stack) -> Policy:
    role = deployed.resources()["IdentityStoreReaderRole"]["Properties"]
    return Policy.of(role["AssumeRolePolicyDocument"], "trust")


def store_arn(store: str = STORE, account: str = IC_ACCOUNT) -> str:
    return f"arn:aws:identitystore::{account}:identitystore/{store}"


def requests_of(operation: str, params: dict[str, Any]) -> list[Request]:
    """The authorization requests of one Identity Store call (SAR resource types per action)."""
    named = {
        "GetUserId": ["arn:aws:identitystore:::user/*"],
        "DescribeUser": [f"arn:aws:identitystore:::user/{params.get('UserId')}"],
        "ListGroupMembershipsForMember": [
            f"arn:aws:identitystore:::user/{params.get('MemberId', {}).get('UserId')}",
            "arn:aws:identitystore:::membership/*"],
        "DescribeGroup": [f"arn:aws:identitystore:::group/{params.get('GroupId')}"],
        "ListGroupMemberships": [f"arn:aws:identitystore:::group/{params.get('GroupId')}",
                                 "arn:aws:identitystore:::membership/*"],
    }
    if operation not in named:
        raise AssertionError(f"no authorization model for identitystore:{operation}: add one")
    return [Request(f"identitystore:{operation}", resource, SESSION)
            for resource in [store_arn(params["IdentityStoreId"]), *named[operation]]]


@pytest.fixture
def recorded(emulated_aws: None) -> list[tuple[str, dict[str, Any]]]:
    """The Identity Store calls of one membership lookup of each kind (the resolver's own clients)."""
    import boto3

    emulator.install()
    issued = boto3.client("sts").assume_role(RoleArn=READER, RoleSessionName="setup")["Credentials"]
    admin = boto3.client("identitystore", aws_access_key_id=issued["AccessKeyId"],
                         aws_secret_access_key=issued["SecretAccessKey"],
                         aws_session_token=issued["SessionToken"])
    user = admin.create_user(IdentityStoreId=STORE, UserName="alice", DisplayName="Alice",
                             Name={"GivenName": "A", "FamilyName": "T"},
                             Emails=[{"Value": "alice@example.com", "Primary": True}])["UserId"]
    group = admin.create_group(IdentityStoreId=STORE, DisplayName="team1-members")["GroupId"]
    admin.create_group_membership(IdentityStoreId=STORE, GroupId=group, MemberId={"UserId": user})
    calls: list[tuple[str, dict[str, Any]]] = []
    clients = AwsClients()

    def record(event_name: str, params: dict[str, Any], **_: Any) -> None:
        calls.append((event_name.rsplit(".", 1)[1], dict(params)))

    clients.register("provide-client-params.identitystore", record)
    for attribute, value in (("user_id", user), ("userName", "alice")):
        MembershipResolver(clients, IdentityStoreRef(STORE, "us-east-1", READER, EXTERNAL_ID, attribute)
                           ).membership(value)
    return calls


def test_every_call_the_broker_makes_is_allowed(recorded: list[tuple[str, dict[str, Any]]]) -> None:
    operations = {operation for operation, _ in recorded}
    assert operations == {"DescribeUser", "GetUserId", "ListGroupMembershipsForMember", "DescribeGroup"}
    policies = identity(stack())
    for operation, params in recorded:
        for request in requests_of(operation, params):
            assert evaluate(request, policies).allowed, request


def test_reconcile_listing_a_group_is_allowed() -> None:
    for request in requests_of("ListGroupMemberships", {"IdentityStoreId": STORE, "GroupId": "g-1"}):
        assert evaluate(request, identity(stack())).allowed, request


@pytest.mark.parametrize("action", ["CreateUser", "DeleteUser", "UpdateUser", "CreateGroupMembership",
                                    "DeleteGroupMembership", "UpdateGroup", "ListUsers"])
def test_nothing_else_is_allowed(action: str) -> None:
    request = Request(f"identitystore:{action}", store_arn(), SESSION)
    assert not evaluate(request, identity(stack())).allowed


def test_another_identity_store_is_out_of_reach() -> None:
    request = Request("identitystore:DescribeUser", store_arn("d-0000000000"), SESSION)
    assert not evaluate(request, identity(stack())).allowed


def test_a_delegated_administrator_names_the_store_owner() -> None:
    deployed = stack(IdentityStoreAccountId="888888888888")
    owned = Request("identitystore:DescribeUser", store_arn(account="888888888888"), SESSION)
    here = Request("identitystore:DescribeUser", store_arn(), SESSION)
    assert evaluate(owned, identity(deployed)).allowed and not evaluate(here, identity(deployed)).allowed


def assume(caller: str, external_id: str | None = EXTERNAL_ID) -> Request:
    context = {"sts:ExternalId": external_id} if external_id else {}
    return Request("sts:AssumeRole", READER, caller, context)


def hub_may_assume(resource: str) -> Policy:
    return Policy.of({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": resource}]}, "hub")


def test_only_the_broker_and_named_reconcile_roles_may_assume_it_with_the_external_id() -> None:
    hub = [hub_may_assume(READER)]
    assert evaluate(assume(BROKER_ROLE), hub, trust(stack())).allowed
    assert not evaluate(assume(BROKER_ROLE, None), hub, trust(stack())).allowed
    assert not evaluate(assume(BROKER_ROLE, "wrong"), hub, trust(stack())).allowed
    assert not evaluate(assume(RECONCILE_ROLE), hub, trust(stack())).allowed  # not named
    with_reconcile = trust(stack(ReconcileRoleArns=RECONCILE_ROLE))
    assert evaluate(assume(RECONCILE_ROLE), hub, with_reconcile).allowed
    for stranger in (f"arn:aws:iam::{HUB}:role/someone-else", f"arn:aws:iam::{HUB}:root",
                     "arn:aws:iam::777777777777:role/studio-broker"):
        assert not evaluate(assume(stranger), hub, with_reconcile).allowed, stranger


def reconcile_assume_policy(hub: Stack) -> Policy:
    """The reconcile job role's statements but its log permissions (a log group ARN is not modelled)."""
    role = hub.template["Resources"]["ReconcileRole"]["Properties"]
    (document,) = [p["PolicyDocument"] for p in role["Policies"]]
    kept = [s for s in document["Statement"] if s.get("Sid") != "OwnLogs"]
    statements = hub.resolve(kept)  # a list: an If that resolves to AWS::NoValue is dropped
    return Policy.of({"Version": "2012-10-17", "Statement": statements}, "reconcile")


def test_the_hub_roles_may_assume_exactly_the_configured_reader() -> None:
    template = load_template((REPO / "template.yaml").read_text())
    hub = Stack(template, {"IdentityStoreReaderRoleArn": READER}, account_id=HUB)
    assert hub.condition("HasIdentityStoreReader")
    resources = template["Resources"]
    broker = [Policy.of(hub.resolve(resources["BrokerIdentityStorePolicy"]["Properties"]["PolicyDocument"]))]
    reconcile = [reconcile_assume_policy(hub)]
    other = READER.replace("StudioBrokerIdentityStoreReader", "Admin")
    for policies in (broker, reconcile):
        assert evaluate(Request("sts:AssumeRole", READER, BROKER_ROLE), policies).allowed
        assert not evaluate(Request("sts:AssumeRole", other, BROKER_ROLE), policies).allowed
    assert not Stack(template, account_id=HUB).condition("HasIdentityStoreReader")  # default: no reader


def test_the_reconcile_job_may_assume_only_the_spoke_reconcile_role_in_its_organisation() -> None:
    template = load_template((REPO / "template.yaml").read_text())
    hub = Stack(template, account_id=HUB)
    policies = [reconcile_assume_policy(hub)]
    org = {"aws:PrincipalOrgID": "o-abc", "aws:ResourceOrgID": "o-abc"}
    spoke = "arn:aws:iam::111111111111:role/StudioBrokerReconcile"
    assert evaluate(Request("sts:AssumeRole", spoke, RECONCILE_ROLE, org), policies).allowed
    foreign = {"aws:PrincipalOrgID": "o-abc", "aws:ResourceOrgID": "o-zzz"}
    assert not evaluate(Request("sts:AssumeRole", spoke, RECONCILE_ROLE, foreign), policies).allowed
    admin = "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    assert not evaluate(Request("sts:AssumeRole", admin, RECONCILE_ROLE, org), policies).allowed
    assert not evaluate(Request("sts:AssumeRole", READER, RECONCILE_ROLE, org), policies).allowed  # no reader
