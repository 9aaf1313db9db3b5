"""The hub broker role's AssumeRole statement (template.yaml, by Sid): spoke roles of the organisation only.

The statement lets the broker assume a role named BrokerAccessRoleName in any
account (``iam::*:``): without an organisation condition, any account that
creates such a role and trusts the hub role (its ARN is no secret) is
reachable, e.g. through a routing.yaml entry that names a foreign account.
"""

from __future__ import annotations

import pytest

from broker.ops.routing_source import load_routing_table

from .calls import assume_role_requests
from .deployed import ORGANIZATION_ID, REPO, hub_assume_policy, registry
from .evaluator import evaluate

HUB_ROLE = registry().settings.broker_role_arn
SEED = load_routing_table(REPO / "routing.yaml")
REQUEST = {"RoleSessionName": "user1", "SourceIdentity": "user1", "ExternalId": "studio-broker-7f3c",
           "Tags": [{"Key": "User", "Value": "user1"}, {"Key": "Team", "Value": "team1"},
                    {"Key": "Profile", "Value": "team1--user1"}]}


@pytest.mark.parametrize("team", sorted(SEED.teams), ids=str)
def test_the_hub_may_assume_the_broker_access_role_of_every_routed_spoke(team: str) -> None:
    role = SEED.teams[team].broker_role_arn
    for request in assume_role_requests({"RoleArn": role, **REQUEST}, HUB_ROLE, org_id=ORGANIZATION_ID):
        assert evaluate(request, [hub_assume_policy()]).allowed, request.action


def test_the_hub_may_assume_no_other_role() -> None:
    other = "arn:aws:iam::111111111111:role/OrganizationAccountAccessRole"
    for request in assume_role_requests({"RoleArn": other, **REQUEST}, HUB_ROLE, org_id=ORGANIZATION_ID):
        assert not evaluate(request, [hub_assume_policy()]).allowed, request.action


@pytest.mark.parametrize("role_org_id", ["o-zzzzzzzzzz", ""], ids=["another-organisation", "no-organisation"])
def test_the_hub_may_not_assume_a_same_named_role_outside_its_organisation(role_org_id: str) -> None:
    foreign = "arn:aws:iam::999999999999:role/StudioBrokerAccess"
    requests = assume_role_requests({"RoleArn": foreign, **REQUEST}, HUB_ROLE, org_id=ORGANIZATION_ID,
                                    role_org_id=role_org_id)
    assert [r.action for r in requests if evaluate(r, [hub_assume_policy()]).allowed] == []
