"""The reconcile job in template.yaml: its own role, a schedule, and a dry run unless told otherwise."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from .sam import evaluate, resources_of_type, transform_file

REPO = Path(__file__).parent.parent.parent


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return transform_file(REPO / "template.yaml")


def test_the_job_runs_the_runtime_package_with_its_own_role_on_a_schedule(hub: dict[str, Any]) -> None:
    functions = resources_of_type(evaluate(hub), "AWS::Lambda::Function")
    job, broker = functions["ReconcileFunction"]["Properties"], functions["BrokerFunction"]["Properties"]
    assert job["Handler"] == "broker.reconcile.lambda_handler" and job["Code"] == broker["Code"]
    assert job["Role"] != broker["Role"]  # the broker's role may delete nothing
    env = job["Environment"]["Variables"]
    assert (env["BROKER_RECONCILE_APPLY"], env["BROKER_RECONCILE_MAX"]) == ("false", "5")
    # the package ships the compiled table only (scripts/package-lambda.sh)
    assert env["BROKER_ROUTING_FILE"] == broker["Environment"]["Variables"]["BROKER_ROUTING_FILE"]
    [schedule] = [s for s in resources_of_type(hub, "AWS::Scheduler::Schedule").values()
                  if s["Properties"]["Target"]["Arn"] == {"Fn::GetAtt": ["ReconcileFunction", "Arn"]}]
    assert schedule["Properties"]["ScheduleExpression"] == {"Ref": "ReconcileSchedule"}
    assert hub["Parameters"]["ReconcileSchedule"]["Default"] == "rate(1 day)"


def test_apply_is_a_parameter(hub: dict[str, Any]) -> None:
    functions = resources_of_type(evaluate(hub, {"ReconcileApply": "true"}), "AWS::Lambda::Function")
    env = functions["ReconcileFunction"]["Properties"]["Environment"]["Variables"]
    assert env["BROKER_RECONCILE_APPLY"] == "true"


def test_the_job_module_imports_only_the_runtime() -> None:
    """scripts/package-lambda.sh ships no ops/, local/, emulator/ or cli: the job must not need them."""
    for module in ("reconcile", "membership"):
        tree = ast.parse((REPO / "broker" / f"{module}.py").read_text())
        nodes = list(ast.walk(tree))
        imported = {n.module for n in nodes if isinstance(n, ast.ImportFrom) and n.module}
        imported |= {alias.name for n in nodes if isinstance(n, ast.Import) for alias in n.names}
        assert not {m for m in imported if m.startswith(("broker.ops", "broker.local", "broker.emulator",
                                                          "broker.cli"))}, module
