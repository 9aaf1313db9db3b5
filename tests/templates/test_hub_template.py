"""The hub stack as CloudFormation creates it: template.yaml after the real SAM transform.

Each test reads the generated resources (types, properties, dependencies,
counts) for one set of parameter values, the way CloudFormation would
evaluate them; see ``sam.py``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint_file

from .sam import depends_on, evaluate, only, references, resources_of_type, transform_file

REPO = Path(__file__).parent.parent.parent
HUB = REPO / "template.yaml"
PUSH_TO_LOGS = "arn:${AWS::Partition}:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return transform_file(HUB)


def unresolved(template: dict[str, Any]) -> set[str]:
    """Names the created resources refer to that are neither a resource nor a parameter."""
    resources = template["Resources"]
    named = set()
    for resource in resources.values():
        depends = resource.get("DependsOn", [])
        named |= references(resource.get("Properties", {}))
        named |= set([depends] if isinstance(depends, str) else depends)
    return named - set(resources) - set(template["Parameters"])


# 1. API Gateway's CloudWatch Logs role: the stage's logs need it in the account and region.

def test_the_hub_sets_api_gateway_s_cloudwatch_logs_role_by_default(hub: dict[str, Any]) -> None:
    assert hub["Parameters"].get("ManageApiGatewayAccountLogging", {}).get("Default") == "true"
    created = evaluate(hub)
    _, account = only(created, "AWS::ApiGateway::Account")
    role_name = account["Properties"]["CloudWatchRoleArn"]["Fn::GetAtt"][0]
    role = created["Resources"][role_name]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [{
        "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"}, "Action": "sts:AssumeRole"}]
    assert role["Properties"]["ManagedPolicyArns"] == [{"Fn::Sub": PUSH_TO_LOGS}]  # partition-aware
    assert "Policies" not in role["Properties"]
    # The account setting outlives the stack: so does the role it points at.
    assert role.get("DeletionPolicy") == role.get("UpdateReplacePolicy") == "Retain"


def test_the_logging_stage_waits_for_the_account_setting(hub: dict[str, Any]) -> None:
    created = evaluate(hub)
    stage_name, stage = only(created, "AWS::ApiGateway::Stage")
    assert stage["Properties"]["MethodSettings"][0]["LoggingLevel"] == "ERROR"
    assert "AccessLogSetting" in stage["Properties"]
    account_name, _ = only(created, "AWS::ApiGateway::Account")
    assert account_name in depends_on(created, stage_name)


def test_opting_out_creates_no_account_setting_and_leaves_no_dangling_reference(hub: dict[str, Any]) -> None:
    assert unresolved(evaluate(hub)) == set()
    created = evaluate(hub, {"ManageApiGatewayAccountLogging": "false"})
    assert resources_of_type(created, "AWS::ApiGateway::Account") == {}
    assert [name for name, role in resources_of_type(created, "AWS::IAM::Role").items()
            if "apigateway.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])] == []
    # A DependsOn on a resource whose condition is false fails the whole stack
    # ("Unresolved resource dependencies"): nothing may name the dropped resources.
    assert unresolved(created) == set()
    only(created, "AWS::ApiGateway::Stage")


# 2. The canary's rollback alarm watches the new version's number.

def test_the_rollback_alarm_watches_the_version_number_not_its_arn(hub: dict[str, Any]) -> None:
    version, _ = only(hub, "AWS::Lambda::Version")
    alarm = hub["Resources"]["AliasErrorsAlarm"]["Properties"]
    dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
    assert dimensions["ExecutedVersion"] == {"Fn::GetAtt": [version, "Version"]}
    _, group = only(hub, "AWS::CodeDeploy::DeploymentGroup")
    assert {"Name": {"Ref": "AliasErrorsAlarm"}} in group["Properties"]["AlarmConfiguration"]["Alarms"]


@pytest.mark.parametrize(("parameters", "config"), [
    ({}, "Canary10Percent5Minutes"),
    ({"DeploymentPreference": "AllAtOnce"}, "AllAtOnce"),  # what hub-parameters gives an addition
])
def test_the_deployment_type_is_a_parameter_and_the_rollback_alarms_stay(
        parameters: dict[str, str], config: str) -> None:
    # SAM substitutes DeploymentPreference while it transforms (parameter_values), as sam deploy does.
    _, group = only(transform_file(HUB, parameters), "AWS::CodeDeploy::DeploymentGroup")
    properties = group["Properties"]
    assert properties["DeploymentConfigName"] == {
        "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": config}]}
    assert properties["AlarmConfiguration"] == {"Enabled": True, "Alarms": [
        {"Name": {"Ref": "AliasErrorsAlarm"}}, {"Name": {"Ref": "UnexpectedErrorsAlarm"}}]}
    assert "DEPLOYMENT_STOP_ON_ALARM" in properties["AutoRollbackConfiguration"]["Events"]


def test_the_deployed_revision_is_kept_for_the_next_deploy_to_compare_with(hub: dict[str, Any]) -> None:
    assert hub["Outputs"]["SourceRevision"]["Value"] == {"Ref": "SourceRevision"}
    parameter = hub["Parameters"]["SourceRevision"]
    assert parameter["Default"] == "" and parameter["AllowedPattern"] == "^([0-9a-f]{40})?$"


# 3. One stage: the configured one, throttled and logged.

def stages_created(template: dict[str, Any]) -> list[Any]:
    """Stage names: each AWS::ApiGateway::Stage, and each Deployment's own StageName (a stage too)."""
    stages = resources_of_type(template, "AWS::ApiGateway::Stage").values()
    deployments = resources_of_type(template, "AWS::ApiGateway::Deployment").values()
    return ([r["Properties"]["StageName"] for r in stages]
            + [r["Properties"]["StageName"] for r in deployments if "StageName" in r["Properties"]])


def test_the_api_has_exactly_one_stage_named_by_the_stage_parameter(hub: dict[str, Any]) -> None:
    assert stages_created(hub) == [{"Ref": "StageName"}]
    assert stages_created(evaluate(hub, {"StageName": "live"})) == ["live"]


# 4. Reserved concurrency: a ceiling on the broker when the operator sets one.

def test_the_function_reserves_the_concurrency_it_is_given(hub: dict[str, Any]) -> None:
    assert "ReservedConcurrency" in hub["Parameters"]
    function = resources_of_type(evaluate(hub, {"ReservedConcurrency": "50"}), "AWS::Lambda::Function")[
        "BrokerFunction"]
    assert function["Properties"]["ReservedConcurrentExecutions"] == "50"


def test_the_default_reserves_nothing_rather_than_stopping_the_function(hub: dict[str, Any]) -> None:
    # A new account may have a concurrency limit of 10: any reservation would fail its first deploy.
    assert hub["Parameters"]["ReservedConcurrency"]["Default"] == 0
    function = resources_of_type(evaluate(hub), "AWS::Lambda::Function")["BrokerFunction"]
    assert "ReservedConcurrentExecutions" not in function["Properties"]


# 5. What outlives the stack (logs, the replay table) cannot collide with a re-created stack.

def test_the_log_groups_are_kept_and_named_by_cloudformation(hub: dict[str, Any]) -> None:
    groups = resources_of_type(evaluate(hub), "AWS::Logs::LogGroup")
    assert sorted(groups) == ["ApiAccessLogs", "CanaryLogs", "FunctionLogs", "ReconcileLogs"]
    for group in groups.values():
        assert group.get("DeletionPolicy") == group.get("UpdateReplacePolicy") == "Retain"
        assert "LogGroupName" not in group["Properties"]  # a fixed name collides with a retained group
        assert int(group["Properties"]["RetentionInDays"]) > 0


def test_the_table_is_kept_and_named_by_cloudformation_unless_a_name_is_given(hub: dict[str, Any]) -> None:
    _, table = only(evaluate(hub), "AWS::DynamoDB::Table")
    assert table.get("DeletionPolicy") == table.get("UpdateReplacePolicy") == "Retain"
    assert "TableName" not in table["Properties"]
    _, table = only(evaluate(hub, {"TableName": "studio-broker-state"}), "AWS::DynamoDB::Table")
    assert table["Properties"]["TableName"] == "studio-broker-state"


# cfn-lint on what CloudFormation receives, not only on the SAM source.

def test_cfn_lint_passes_on_the_transformed_hub_template(
        hub: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> None:
    path = tmp_path_factory.mktemp("hub") / "hub.json"
    path.write_text(json.dumps(hub, indent=1))
    # W2001 (parameter not used): SAM substitutes DeploymentPreference itself, with the
    # value CloudFormation passes at deploy time (here the default), so it looks unused after.
    matches = lint_file(path, config=ManualArgs(ignore_checks=["W2001"], regions=["us-east-1"]))
    assert [str(m) for m in matches] == []


# The canary: every team's chain as the broker, on a schedule, with alarms that match its metrics.

def test_the_canary_runs_the_broker_package_as_the_broker_every_five_minutes(hub: dict[str, Any]) -> None:
    functions = resources_of_type(evaluate(hub), "AWS::Lambda::Function")
    broker, canary = functions["BrokerFunction"]["Properties"], functions["CanaryFunction"]["Properties"]
    assert canary["Handler"] == "broker.canary.lambda_handler"
    assert (canary["Code"], canary["Role"]) == (broker["Code"], broker["Role"])  # spokes trust that role
    [schedule] = [s for s in resources_of_type(hub, "AWS::Scheduler::Schedule").values()
                  if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["CanaryFunction", "Arn"]}]
    assert schedule["Properties"]["ScheduleExpression"] == "rate(5 minutes)"


def test_the_canary_alarms_watch_the_metrics_it_publishes(hub: dict[str, Any]) -> None:
    resources = evaluate(hub)["Resources"]
    service = resources["CanaryFunction"]["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    for alarm, metric in (("CanaryFailuresAlarm", "CanaryFailures"),
                          ("CertificateExpiryAlarm", "CertificateDaysLeftMin")):
        properties = resources[alarm]["Properties"]
        # Powertools adds the service as the only dimension of a metric published without others
        # (tests/functional/test_canary.py checks what the canary really writes).
        assert (properties["Namespace"], properties["MetricName"]) == ("StudioBroker", metric)
        assert properties["Dimensions"] == [{"Name": "service", "Value": service}]
    assert resources["CanaryFailuresAlarm"]["Properties"]["TreatMissingData"] == "breaching"
    assert resources["CertificateExpiryAlarm"]["Properties"]["Threshold"] == "30"


def test_the_canary_may_write_its_own_logs(hub: dict[str, Any]) -> None:
    role = evaluate(hub)["Resources"]["BrokerRole"]["Properties"]
    statements = [s for policy in role["Policies"] for s in policy["PolicyDocument"]["Statement"]]
    [statement] = [s for s in statements if s["Sid"] == "OwnLogs"]
    assert {"Fn::GetAtt": ["CanaryLogs", "Arn"]} in statement["Resource"]


def test_every_route_the_handler_serves_is_in_the_api(hub: dict[str, Any]) -> None:
    """A route the handler has but API Gateway lacks answers API Gateway's own 403 in a real
    account (the emulator and the local stack call the handler directly, so only this sees it)."""
    from broker import handler

    (api,) = resources_of_type(hub, "AWS::ApiGateway::RestApi").values()
    served_by_api = {f"{method.upper()}{path}" for path, methods in api["Properties"]["Body"]["paths"].items()
                     for method in methods}
    # The resolver's registry of its routes ("GET/saml/acs"): private, so a rename fails here loudly.
    assert served_by_api == set(handler.app._route_keys)
