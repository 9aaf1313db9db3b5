"""``broker bench`` with tiny counts: the report's shape and the counted calls, never timings.

One run (module fixture) of the real thing: emulator process, broker worker
process, cold-start children. The numbers that are not timings are exact:
a warm login makes exactly one replay write and one presign.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from broker.cli import build_parser
from broker.local.bench.report import format_table, percentile
from broker.local.bench.runner import BenchOptions, run_bench

TINY = BenchOptions(logins=4, users=2, teams=2, table_size=30, accounts=5, compare_logins=4,
                    cold_starts=1, floor_repeats=3, people=40)


@pytest.fixture(scope="module")
def report() -> Iterator[dict[str, Any]]:
    # The children get an explicit emulator endpoint and fake credentials from the bench itself.
    yield run_bench(TINY)


@pytest.mark.slow
def test_warm_login_makes_exactly_the_replay_write_and_the_presign(report: dict[str, Any]) -> None:
    warm = report["scenarios"]["warm"]
    assert warm["calls_per_login"] == {
        "dynamodb.PutItem": 1.0, "sagemaker.CreatePresignedDomainUrl": 1.0}
    assert warm["statuses"] == {"302": TINY.logins}
    assert warm["http_attempts_per_login"] == 2.0  # no retries hidden behind the count


@pytest.mark.slow
def test_first_login_creates_the_profile_with_one_assume_role(report: dict[str, Any]) -> None:
    first = report["scenarios"]["first"]
    assert first["logins"] == TINY.users * TINY.teams
    assert first["calls_per_login"] == {
        "dynamodb.PutItem": 1.0,
        "sagemaker.CreatePresignedDomainUrl": 1.0,
        "sagemaker.CreateUserProfile": 1.0,
        "sagemaker.DescribeUserProfile": 2.0,
        "sts.AssumeRole": 1.0,
    }


@pytest.mark.slow
def test_cold_start_answers_and_counts_its_calls(report: dict[str, Any]) -> None:
    cold = report["scenarios"]["cold_start"]
    assert cold["statuses"] == {"302": 1}
    assert cold["calls_per_login"] == {
        "dynamodb.PutItem": 1.0, "sagemaker.CreatePresignedDomainUrl": 1.0,
        "sagemaker.DescribeUserProfile": 1.0, "sts.AssumeRole": 1.0}
    assert report["floor"]["import_boto3_one_client_service"] == "dynamodb"


@pytest.mark.slow
def test_report_structure_is_complete_and_json_serialisable(report: dict[str, Any]) -> None:
    assert set(report) >= {"machine", "options", "scenarios", "floor", "table_size", "targets"}
    for scenario in report["scenarios"].values():
        assert set(scenario) >= {"logins", "calls_per_login", "cpu_ms_per_login", "latency_ms",
                                 "peak_rss_mb"}
        assert set(scenario["latency_ms"]) == {"p50", "p95", "p99"}
        assert scenario["cpu_ms_per_login"] > 0
    assert report["table_size"]["small"]["teams"] == 10
    assert report["table_size"]["large"]["teams"] == TINY.table_size
    assert report["table_size"]["large"]["applications"] == TINY.table_size
    assert report["floor"]["python3_saml_raw_cpu_ms"] > 0
    assert len(report["targets"]) == 8
    assert all(isinstance(target["met"], bool) for target in report["targets"])
    json.dumps(report)
    table = format_table(report)
    assert "warm login" in table and "dynamodb.PutItem" in table and "Targets" in table


@pytest.mark.slow
def test_memory_figure_counts_people_and_clients(report: dict[str, Any]) -> None:
    memory = report["memory"]
    assert (memory["baseline_people"], memory["people"]) == (10, TINY.people)
    # one STS client (hub) and one shared SageMaker client, whatever the number of people
    assert memory["clients_baseline"] == memory["clients_after"] == 2
    assert memory["rss_after_mb"] > 0 and "Memory of one container" in format_table(report)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile([3.0], 95) == 3.0
    assert percentile([], 50) == 0.0


def test_bench_is_a_broker_command_with_its_options() -> None:
    args = build_parser().parse_args(
        ["bench", "--logins", "7", "--table-size", "50", "--concurrency", "2", "--json"])
    assert (args.logins, args.table_size, args.concurrency, args.json) == (7, 50, 2, True)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--logins", "0"])


def test_options_refuse_zero_counts() -> None:
    with pytest.raises(ValueError, match="users must be at least 1"):
        BenchOptions(users=0)
