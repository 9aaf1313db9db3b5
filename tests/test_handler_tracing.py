"""The Tracer exists exactly where Powertools would trace: a Lambda runtime, not disabled."""

from __future__ import annotations

import pytest

from broker.handler import tracing_active


@pytest.mark.parametrize(
    ("env", "active"),
    [
        ({}, False),  # a laptop, the local stack, the tests
        ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
        ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
        ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ],
)
def test_tracing_active(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], active: bool) -> None:
    for name in ("LAMBDA_TASK_ROOT", "POWERTOOLS_TRACE_DISABLED", "AWS_SAM_LOCAL", "AWS_CHALICE_CLI_MODE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert tracing_active() is active
