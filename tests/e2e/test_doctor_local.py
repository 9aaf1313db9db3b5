"""``broker doctor`` against the local stack, as its banner tells a person to run it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from broker.cli import main
from broker.local.devidp import LOCAL_ROUTING_NAME
from broker.local.stack import LocalStack
from tests.e2e.conftest import ROOT


def doctor(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    routing = Path(stack.options.state_dir) / LOCAL_ROUTING_NAME
    code = main(["doctor", "--routing", str(routing), "--accounts", str(ROOT / "accounts"),
                 "--aws-endpoint", stack.emulator_url, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_healthy_local_stack_is_all_green(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = doctor(stack, capsys)
    assert (code, report["status"]) == (0, "ok"), [c for c in report["checks"] if c["status"] != "ok"]
    teams = {c["subject"].split()[1] for c in report["checks"] if c["check"] == "domain"}
    assert teams == set(stack.routing.teams)


def test_a_domain_deleted_behind_the_stacks_back_is_reported(
        stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> None:
    spoke = next(s for s in stack.spokes if s.team_id == "team2")
    credentials = boto3.client("sts", region_name=spoke.region).assume_role(
        RoleArn=f"arn:aws:iam::{spoke.account_id}:role/OrganizationAccountAccessRole",
        RoleSessionName="test")["Credentials"]
    boto3.client("sagemaker", region_name=spoke.region, aws_access_key_id=credentials["AccessKeyId"],
                 aws_secret_access_key=credentials["SecretAccessKey"],
                 aws_session_token=credentials["SessionToken"]).delete_domain(DomainId=spoke.domain_id)

    code, report = doctor(stack, capsys)

    assert (code, report["status"]) == (1, "fail")
    [failure] = [c for c in report["checks"] if c["status"] == "fail"]
    where = f"team team2 ({spoke.account_id} {spoke.region})"
    assert (failure["check"], failure["subject"]) == ("domain", where)
    assert "broker rollout apply" in failure["fix"]
