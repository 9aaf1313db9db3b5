"""The seed scenario over real HTTP against the local stack (portal -> ACS -> Studio stand-in)."""

from __future__ import annotations

import json
import urllib.parse

import boto3

from broker.local.demo import parse_page, post_acs, request, run_seed_scenario
from broker.local.devidp import load_users
from broker.local.stack import LocalStack
from tests.e2e.conftest import ROOT


def test_seed_scenario_lands_everyone_in_their_own_profile(stack: LocalStack) -> None:
    assert stack.routing is not None
    users = load_users(ROOT / "local" / "users.yaml", stack.routing.teams)
    report = run_seed_scenario(stack.base_url, stack.routing, users, stack.spokes)

    failed = [check.text for check in report.checks if not check.ok]
    assert report.ok, failed
    rows = {(r.user, r.team): r for r in report.sign_ins}
    assert rows["user1", "team1"].facts["account"] == "111111111111"
    assert rows["user1", "team1"].facts["profile"] == "team1--user1"
    assert rows["user1", "team1"].facts["execution-role"] == (
        "arn:aws:iam::111111111111:role/studio-team1-execution")
    assert rows["user1", "team2"].facts["account"] == "222222222222"
    assert rows["user1", "team2"].facts["profile"] == "team2--user1"
    assert rows["user2", "team2"].facts["profile"] == "team2--user2"
    refused = rows["user3", "team1"]
    assert (refused.status, refused.title, refused.facts) == (403, "Access denied", {})
    assert any("exactly 3 profiles exist" in check.text for check in report.checks)


def test_refusal_page_comes_from_the_broker_with_its_headers(stack: LocalStack) -> None:
    start = request("GET", f"{stack.base_url}/idp/start?user=user2&team=team1")
    saml_response = _hidden_field(start.body, "SAMLResponse")
    answer = post_acs(f"{stack.base_url}/saml/acs", saml_response)
    assert answer.status == 403
    assert "You do not have access to Studio for Fraud analytics." in answer.body
    assert "Reference:" in answer.body
    assert answer.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Location" not in answer.headers


def test_broker_paths_are_served_by_the_lambda_handler(stack: LocalStack) -> None:
    health = request("GET", f"{stack.base_url}/health")
    assert (health.status, json.loads(health.body)) == (200, {"status": "ok", "teams": 2})
    wrong_method = request("GET", f"{stack.base_url}/saml/acs")
    assert wrong_method.status == 405 and "cannot be opened directly" in wrong_method.body
    assert wrong_method.headers["Allow"] == "POST"
    metadata = request("GET", f"{stack.base_url}/saml/metadata")
    assert f'Location="{stack.base_url}/saml/acs"' in metadata.body


def test_studio_stand_in_refuses_a_token_for_another_domain_and_a_made_up_one(stack: LocalStack) -> None:
    start = request("GET", f"{stack.base_url}/idp/start?user=user1&team=team1")
    landed = post_acs(f"{stack.base_url}/saml/acs", _hidden_field(start.body, "SAMLResponse"))
    assert landed.status == 302, landed.body
    token = urllib.parse.parse_qs(urllib.parse.urlsplit(landed.headers["Location"]).query)["token"][0]
    studio = f"{stack.base_url}/studio"
    foreign = request("GET", f"{studio}/222222222222/eu-west-1/d-team2studio/auth?token={token}")
    made_up = request("GET", f"{studio}/111111111111/us-east-1/d-team1studio/auth?token=x")
    assert (foreign.status, made_up.status) == (403, 403)
    assert "another domain" in foreign.body
    assert "no presigned URL was issued" in made_up.body
    # Presented at the wrong domain, the token was still spent: it cannot be replayed at the right one.
    right = request("GET", landed.headers["Location"])
    assert (right.status, "already used" in right.body) == (403, True)


def _hidden_field(html: str, name: str) -> str:
    return parse_page(html).inputs[name]


def test_the_spokes_are_the_rollouts_stack_instances(stack: LocalStack) -> None:
    cloudformation = boto3.client("cloudformation", region_name="us-east-1")  # the hub administers them
    for name, count in (("studio-spoke-network", 2), ("studio-spoke-access", 2),
                        ("studio-team-roles-111111111111", 1), ("studio-team-roles-222222222222", 1),
                        ("studio-spoke-domain", 2)):
        instances = cloudformation.list_stack_instances(StackSetName=name)["Summaries"]
        assert [i["Status"] for i in instances] == ["CURRENT"] * count, name
    domains = {(i["Account"], i["Region"]) for i in cloudformation.list_stack_instances(
        StackSetName="studio-spoke-domain")["Summaries"]}
    assert domains == {(s.account_id, s.region) for s in stack.spokes}
    assert {s.team_id: s.domain_id for s in stack.spokes} == {
        "team1": "d-team1studio", "team2": "d-team2studio"}
