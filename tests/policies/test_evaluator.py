"""The evaluator against the rules of the IAM User Guide it claims to model.

Cases follow the guide's pages: "Policy evaluation logic" and its
cross-account page, "IAM JSON policy elements: Condition operators",
"Single-valued vs. multivalued context keys" and "IAM policy elements:
Variables and tags" (docs.aws.amazon.com/IAM/latest/UserGuide/).
"""

from __future__ import annotations

from typing import Any

import pytest

from .evaluator import Decision, NotModelled, Policy, Request, evaluate

ROLE = "arn:aws:iam::111111111111:role/caller"
PROFILE = "arn:aws:sagemaker:us-east-1:111111111111:user-profile/d-1/team1--alice"


def policy(*statements: dict[str, Any]) -> Policy:
    return Policy.of({"Version": "2012-10-17", "Statement": list(statements)})


def allow(**extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": "sagemaker:DescribeUserProfile", "Resource": "*", **extra}


def request(context: dict[str, Any] | None = None, **fields: str) -> Request:
    values = {"action": "sagemaker:DescribeUserProfile", "resource": PROFILE, "principal": ROLE}
    return Request(**{**values, **fields}, context=context or {})


def decide(statement: dict[str, Any], context: dict[str, Any] | None = None, **fields: str) -> Decision:
    return evaluate(request(context, **fields), [policy(statement)]).decision


# -- evaluation logic --------------------------------------------------------------------------


def test_nothing_applies_is_an_implicit_deny() -> None:
    assert decide(allow(Action="sagemaker:ListDomains")) is Decision.IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow() -> None:
    statements = [allow(), {"Effect": "Deny", "Action": "sagemaker:*", "Resource": "*"}]
    result = evaluate(request(), [policy(*statements)])
    assert result.decision is Decision.EXPLICIT_DENY and result.allowed_by


def test_a_deny_in_any_policy_wins() -> None:
    deny = policy({"Effect": "Deny", "Action": "*", "Resource": "*"})
    assert evaluate(request(), [policy(allow()), deny]).decision is Decision.EXPLICIT_DENY


def test_cross_account_needs_the_identity_policy_and_the_resource_policy() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"AWS": ROLE}, "Action": "sts:AssumeRole"})
    identity = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    assume = request(action="sts:AssumeRole", resource="arn:aws:iam::222222222222:role/target")
    assert evaluate(assume, [identity], trust).allowed
    assert evaluate(assume, [], trust).decision is Decision.IMPLICIT_DENY
    assert evaluate(assume, [identity], policy(
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:role/other"},
         "Action": "sts:AssumeRole"})).decision is Decision.IMPLICIT_DENY


def test_a_deny_in_the_resource_policy_wins() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:*"},
                   {"Effect": "Deny", "Principal": "*", "Action": "sts:AssumeRole"})
    identity = policy({"Effect": "Allow", "Action": "*", "Resource": "*"})
    assume = request(action="sts:AssumeRole", resource="arn:aws:iam::222222222222:role/target")
    assert evaluate(assume, [identity], trust).decision is Decision.EXPLICIT_DENY


@pytest.mark.parametrize("principal", [ROLE, "111111111111", "arn:aws:iam::111111111111:root", "*"])
def test_a_trust_policy_principal_names_the_role_its_account_or_anyone(principal: str) -> None:
    trust = policy({"Effect": "Allow", "Principal": {"AWS": principal}, "Action": "sts:AssumeRole"})
    identity = policy({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"})
    assert evaluate(request(action="sts:AssumeRole"), [identity], trust).allowed


def test_a_service_principal_is_matched_by_name() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"},
                    "Action": "sts:AssumeRole"})
    identity: list[Policy] = [policy({"Effect": "Allow", "Action": "sts:*", "Resource": "*"})]
    assert evaluate(request(action="sts:AssumeRole", principal="sagemaker.amazonaws.com"),
                    identity, trust).allowed
    assert not evaluate(request(action="sts:AssumeRole"), identity, trust).allowed


# -- Action and Resource -----------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "matches"), [
    ("sagemaker:DescribeUserProfile", True), ("SageMaker:describeuserprofile", True),
    ("sagemaker:Describe*", True), ("sagemaker:*", True), ("*", True),
    ("sagemaker:Describe?serProfile", True), ("sagemaker:Describe", False), ("iam:*", False),
])
def test_actions_match_case_insensitively_with_wildcards(pattern: str, matches: bool) -> None:
    assert (decide(allow(Action=pattern)) is Decision.ALLOW) is matches


def test_not_action_applies_to_every_other_action() -> None:
    assert decide({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}) is Decision.ALLOW
    assert decide({"Effect": "Allow", "NotAction": "sagemaker:Describe*", "Resource": "*"}) \
        is Decision.IMPLICIT_DENY


@pytest.mark.parametrize(("pattern", "matches"), [
    (PROFILE, True), ("*", True),
    ("arn:aws:sagemaker:*:111111111111:user-profile/*/*", True),
    ("arn:aws:sagemaker:*:111111111111:*/*", True),
    ("arn:aws:sagemaker:us-east-1:111111111111:user-profile/*", True),  # * spans the slash
    ("arn:aws:sagemaker:*:111111111111:user-profile/*/team1--ALICE", False),  # case-sensitive
    ("arn:aws:sagemaker:*:222222222222:user-profile/*/*", False),
    ("arn:aws:sagemaker:*:*", False),  # a wildcard never spans an ARN segment
    ("arn:aws:sagemaker:us-east-?:111111111111:user-profile/d-?/team1--alice", True),
])
def test_resources_match_arn_segments_with_wildcards(pattern: str, matches: bool) -> None:
    assert (decide(allow(Resource=pattern)) is Decision.ALLOW) is matches


def test_a_list_action_on_star_matches_only_a_star_resource() -> None:
    assert decide(allow(Resource="arn:aws:sagemaker:*:*:*"), resource="*") is Decision.IMPLICIT_DENY
    assert decide(allow(Resource="*"), resource="*") is Decision.ALLOW


def test_not_resource_applies_to_every_other_resource() -> None:
    deny = {"Effect": "Deny", "Action": "*", "NotResource": "arn:aws:sagemaker:*:*:user-profile/*/team1--*"}
    assert evaluate(request(), [policy(allow(), deny)]).allowed
    other = request(resource=PROFILE.replace("team1--", "team2--"))
    assert evaluate(other, [policy(allow(), deny)]).decision is Decision.EXPLICIT_DENY


# -- condition operators -----------------------------------------------------------------------


@pytest.mark.parametrize(("operator", "expected"), [
    ("StringEquals", False), ("StringLike", False), ("ArnLike", False), ("IpAddress", False),
    ("Bool", False),
    # "If the policy condition requires that the key is not matched ... the condition is true."
    ("StringNotEquals", True), ("StringNotLike", True), ("ArnNotLike", True), ("NotIpAddress", True),
    # ...IfExists: "If the key is not present, evaluate the condition element as true."
    ("StringEqualsIfExists", True), ("StringNotEqualsIfExists", True), ("ArnLikeIfExists", True),
])
def test_a_key_missing_from_the_request(operator: str, expected: bool) -> None:
    value = "10.0.0.0/8" if "Ip" in operator else "x"
    result = decide(allow(Condition={operator: {"aws:ResourceTag/Team": value}}))
    assert (result is Decision.ALLOW) is expected


def test_ifexists_still_checks_a_present_key() -> None:
    condition = {"StringEqualsIfExists": {"aws:ResourceTag/Team": "team1"}}
    assert decide(allow(Condition=condition), {"aws:ResourceTag/Team": "team2"}) is Decision.IMPLICIT_DENY
    assert decide(allow(Condition=condition), {"aws:ResourceTag/Team": "team1"}) is Decision.ALLOW


def test_values_of_one_key_are_ored_and_a_negated_operator_matches_none() -> None:
    listed = {"StringEquals": {"aws:ResourceTag/Team": ["team1", "team2"]}}
    negated = {"StringNotEquals": {"aws:ResourceTag/Team": ["team1", "team2"]}}
    for team, listed_ok in (("team1", True), ("team2", True), ("team3", False)):
        context = {"aws:ResourceTag/Team": team}
        assert (decide(allow(Condition=listed), context) is Decision.ALLOW) is listed_ok
        assert (decide(allow(Condition=negated), context) is Decision.ALLOW) is not listed_ok


def test_keys_and_operators_are_anded() -> None:
    condition = {"StringEquals": {"aws:ResourceTag/Team": "team1", "aws:ResourceTag/User": "alice"},
                 "Bool": {"aws:SecureTransport": "true"}}
    full = {"aws:ResourceTag/Team": "team1", "aws:ResourceTag/User": "alice", "aws:SecureTransport": "true"}
    assert decide(allow(Condition=condition), full) is Decision.ALLOW
    for key in full:
        assert decide(allow(Condition=condition), {k: v for k, v in full.items() if k != key}) \
            is Decision.IMPLICIT_DENY


def test_string_operators() -> None:
    def ok(operator: str, policy_value: str, value: str) -> bool:
        return decide(allow(Condition={operator: {"k": policy_value}}), {"k": value}) is Decision.ALLOW

    assert ok("StringEquals", "Team1", "Team1") and not ok("StringEquals", "Team1", "team1")
    assert ok("StringEqualsIgnoreCase", "Team1", "team1")
    assert not ok("StringNotEqualsIgnoreCase", "Team1", "team1")
    assert ok("StringLike", "team?--*", "team1--alice") and not ok("StringLike", "team?--*", "team12--a")
    assert not ok("StringLike", "Team*", "team1")  # case-sensitive
    assert ok("StringNotLike", "team2--*", "team1--alice")
    assert ok("StringEquals", "a*", "a*") and not ok("StringEquals", "a*", "ab")  # no wildcard


def test_arn_ip_and_bool_operators() -> None:
    def ok(operator: str, policy_value: str, value: str) -> bool:
        return decide(allow(Condition={operator: {"k": policy_value}}), {"k": value}) is Decision.ALLOW

    assert ok("ArnLike", "arn:aws:sagemaker:*:111111111111:user-profile/*/team1--*", PROFILE)
    assert not ok("ArnLike", "arn:aws:sagemaker:*:111111111111:user-profile/*/team2--*", PROFILE)
    assert ok("ArnNotLike", "arn:aws:sagemaker:*:*:user-profile/*/team2--*", PROFILE)
    assert ok("ArnEquals", PROFILE, PROFILE)
    assert ok("IpAddress", "203.0.113.0/24", "203.0.113.9")
    assert ok("IpAddress", "2001:db8::/32", "2001:db8::1")
    assert ok("NotIpAddress", "203.0.113.0/24", "198.51.100.1")
    assert ok("Bool", "true", "True") and not ok("Bool", "true", "false")


def test_null_checks_presence_and_an_empty_list_counts_as_absent() -> None:
    present = {"Null": {"aws:RequestTag/Team": "false"}}
    absent = {"Null": {"aws:RequestTag/Team": "true"}}
    assert decide(allow(Condition=present), {"aws:RequestTag/Team": "t"}) is Decision.ALLOW
    assert decide(allow(Condition=present)) is Decision.IMPLICIT_DENY
    assert decide(allow(Condition=absent)) is Decision.ALLOW
    assert decide(allow(Condition={"Null": {"aws:TagKeys": "true"}}), {"aws:TagKeys": ()}) is Decision.ALLOW


def test_set_operators_on_multivalued_keys() -> None:
    any_team = {"ForAnyValue:StringEquals": {"aws:TagKeys": ["Team"]}}
    only_known = {"ForAllValues:StringEquals": {"aws:TagKeys": ["Team", "User"]}}
    cases = [((), False, True), (("Team",), True, True), (("Team", "User"), True, True),
             (("Team", "Other"), True, False), (("Other",), False, False)]
    for keys, any_expected, all_expected in cases:
        context = {"aws:TagKeys": keys}
        assert (decide(allow(Condition=any_team), context) is Decision.ALLOW) is any_expected, keys
        assert (decide(allow(Condition=only_known), context) is Decision.ALLOW) is all_expected, keys
    # "ForAllValues ... returns true if there are no keys in the request" (the key is missing)
    assert decide(allow(Condition=only_known)) is Decision.ALLOW
    assert decide(allow(Condition=any_team)) is Decision.IMPLICIT_DENY
    any_other = {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["Team"]}}
    assert decide(allow(Condition=any_other), {"aws:TagKeys": ("Team",)}) is Decision.IMPLICIT_DENY
    assert decide(allow(Condition=any_other), {"aws:TagKeys": ("Team", "X")}) is Decision.ALLOW


def test_condition_key_names_are_case_insensitive() -> None:
    condition = {"StringEquals": {"AWS:ResourceTag/team": "team1"}}
    assert decide(allow(Condition=condition), {"aws:resourcetag/Team": "team1"}) is Decision.ALLOW


# -- policy variables --------------------------------------------------------------------------


def test_variables_in_resource_and_condition_take_the_request_values() -> None:
    statement = allow(
        Resource="arn:aws:sagemaker:*:111111111111:user-profile/*/${aws:PrincipalTag/Profile}",
        Condition={"StringEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}})
    context = {"aws:PrincipalTag/Profile": "team1--alice", "aws:PrincipalTag/Team": "team1",
               "aws:ResourceTag/Team": "team1"}
    assert decide(statement, context) is Decision.ALLOW
    assert decide(statement, context | {"aws:PrincipalTag/Profile": "team1--bob"}) is Decision.IMPLICIT_DENY
    assert decide(statement, context | {"aws:ResourceTag/Team": "team2"}) is Decision.IMPLICIT_DENY


def test_an_unresolvable_variable_makes_the_statement_not_apply_allow_and_deny_alike() -> None:
    assert decide(allow(Resource="arn:aws:sagemaker:*:*:user-profile/*/${aws:PrincipalTag/Profile}")) \
        is Decision.IMPLICIT_DENY
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringNotEquals": {"aws:ResourceTag/Team": "${aws:PrincipalTag/Team}"}}}
    assert evaluate(request(), [policy(allow(), deny)]).allowed


def test_escaped_variables_and_substituted_wildcards_are_literal() -> None:
    literal = allow(Condition={"StringEquals": {"k": "${*}${?}${$}"}})
    assert decide(literal, {"k": "*?$"}) is Decision.ALLOW
    assert decide(literal, {"k": "a?$"}) is Decision.IMPLICIT_DENY
    like = allow(Condition={"StringLike": {"k": "${aws:PrincipalTag/P}-*"}})
    assert decide(like, {"aws:PrincipalTag/P": "a*", "k": "a*-1"}) is Decision.ALLOW
    assert decide(like, {"aws:PrincipalTag/P": "a*", "k": "ab-1"}) is Decision.IMPLICIT_DENY


# -- what it refuses to guess ------------------------------------------------------------------


@pytest.mark.parametrize("statement", [
    allow(Condition={"NumericLessThan": {"k": "1"}}),
    allow(Condition={"ForAnyValue:StringEqualsIfExists": {"k": "1"}}),
    allow(Condition={"StringEquals": {"k": "${aws:PrincipalTag/T, 'x'}"}}),
    allow(Condition={"StringEquals": {"aws:TagKeys": "Team"}}),
    {"Effect": "Allow", "NotPrincipal": {"AWS": ROLE}, "Action": "*"},
    {"Effect": "Allow", "Resource": "*"},
])
def test_semantics_it_does_not_model_raise(statement: dict[str, Any]) -> None:
    with pytest.raises(NotModelled):
        evaluate(request({"k": "1", "aws:PrincipalTag/T": "t", "aws:TagKeys": ("Team",)}),
                 [policy(statement)], policy(statement) if "NotPrincipal" in statement else None)


def test_only_the_2012_policy_language_is_modelled() -> None:
    with pytest.raises(NotModelled):
        Policy.of({"Version": "2008-10-17", "Statement": []})
