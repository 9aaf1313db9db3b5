"""The local stack's spokes come from the rollout: when it cannot make them, the stack does not start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from broker.cli import main
from broker.exceptions import ConfigurationError
from broker.local import commands
from broker.local import stack as stack_module
from broker.local.stack import LocalStack, StackStartError
from broker.ops.rollout import InstanceResult, Summary
from tests.e2e.conftest import ROOT, stack_options


@pytest.fixture
def endpoint_before() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL")


def _assert_stopped(stack: LocalStack, endpoint_before: str | None) -> None:
    assert stack._server is None and stack._emulator is None
    assert os.environ.get("AWS_ENDPOINT_URL") == endpoint_before


def test_a_missing_accounts_folder_stops_the_start_before_anything_runs(
        tmp_path: Path, endpoint_before: str | None) -> None:
    stack = LocalStack(stack_options(tmp_path / "state", accounts_dir=tmp_path / "nope"))
    with pytest.raises(ConfigurationError, match="the accounts directory does not exist"):
        stack.start()
    assert stack.base_url == "" and stack.spokes == [] and not (tmp_path / "state").exists()
    _assert_stopped(stack, endpoint_before)


def test_demo_names_the_accounts_folder_it_cannot_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # The command reformats the handler's process-wide logger; other tests read its JSON lines.
    monkeypatch.setattr(commands, "_broker_logs", lambda stream, level: None)
    code = main(["demo", "--routing", str(ROOT / "routing.yaml"),
                 "--users", str(ROOT / "local" / "users.yaml"),
                 "--accounts", str(tmp_path / "nope"), "--state-dir", str(tmp_path / "state")])
    out, err = capsys.readouterr()
    assert code == 1 and out == ""
    assert err.startswith("broker demo: cannot start: ") and f"{tmp_path / 'nope'}" in err
    assert "the accounts directory does not exist" in err


def test_a_failed_rollout_fails_the_start_naming_each_instance(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint_before: str | None) -> None:
    failed = Summary([
        InstanceResult("studio-spoke-network", "111111111111", "us-east-1", "create", "SUCCEEDED"),
        InstanceResult("studio-spoke-network", "222222222222", "eu-west-1", "create", "FAILED",
                       "Resource handler returned message: CIDR conflict"),
        InstanceResult("studio-spoke-domain", "222222222222", "eu-west-1", "create", "SKIPPED",
                       "studio-spoke-network failed in this account and region"),
    ])
    tables: list[Any] = []
    monkeypatch.setattr(stack_module.rollout, "apply", lambda *args, **kwargs: failed)
    monkeypatch.setattr(stack_module, "create_table", lambda *args: tables.append(args))
    stack = LocalStack(stack_options(tmp_path / "state"))
    with pytest.raises(StackStartError) as raised:
        stack.start()
    assert str(raised.value) == (
        "the spoke rollout failed (2 of 3 stack instances):\n"
        "  studio-spoke-network 222222222222 eu-west-1: create FAILED: "
        "Resource handler returned message: CIDR conflict\n"
        "  studio-spoke-domain 222222222222 eu-west-1: create SKIPPED: "
        "studio-spoke-network failed in this account and region")
    assert tables == [] and stack.spokes == []
    _assert_stopped(stack, endpoint_before)


def test_a_domain_id_the_rollout_does_not_make_fails_the_start(
        tmp_path: Path, endpoint_before: str | None) -> None:
    routing = tmp_path / "routing.yaml"
    text = (ROOT / "routing.yaml").read_text()
    assert text.count("{id: d-team2studio}") == 1
    routing.write_text(text.replace("{id: d-team2studio}", "{id: d-team2other}"))
    stack = LocalStack(stack_options(tmp_path / "state", routing=routing))
    with pytest.raises(StackStartError, match=(
            r"^team team2: account 222222222222 eu-west-1: the rollout made domain 'team2studio' "
            r"with id d-team2studio, but routing.yaml expects d-team2other$")):
        stack.start()
    assert stack.spokes == []
    _assert_stopped(stack, endpoint_before)
