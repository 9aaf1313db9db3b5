"""``broker bench`` with tiny counts: the report's shape and the counted calls, never timings.

One run (module fixture) of the real thing: emulator process, broker worker
processes, cold-start children of the packaged broker, memory children, with
this tree measured as both "before" and "after" (the side-by-side path). The
numbers that are not timings are exact: a warm login makes exactly one replay
write and one presign.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from broker.cli import build_parser
from broker.local.bench.report import format_table, percentile
from broker.local.bench.runner import (
    THIS_TREE,
    WARM_BLOCKS,
    BenchOptions,
    lambda_routing_form,
    package,
    run_bench,
)

TINY = BenchOptions(logins=4, users=2, teams=2, table_size=30, accounts=5, compare_logins=4,
                    cold_starts=1, floor_repeats=3, people=40, latencies_ms=(10, 20),
                    latency_logins=3, before=str(THIS_TREE))
WARM_CALLS = {"dynamodb.PutItem": 1.0, "sagemaker.CreatePresignedDomainUrl": 1.0}


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
    assert report["floor"]["import_boto3_one_client_service"] == "sagemaker"


@pytest.mark.slow
def test_cold_start_runs_the_packaged_broker_from_its_bytecode(report: dict[str, Any]) -> None:
    cold = report["scenarios"]["cold_start"]
    (handler_file,) = cold["handler_files"]
    assert handler_file.endswith("/broker/handler.py")
    assert not handler_file.startswith(str(THIS_TREE / "broker"))  # the artifact's copy
    assert cold["handler_bytecode"] is True


@pytest.mark.slow
def test_warm_logins_with_injected_latency_are_measured_per_latency(report: dict[str, Any]) -> None:
    latency = report["latency"]
    assert set(latency["per_call_ms"]) == {"10", "20"}
    assert latency["logins"] == TINY.latency_logins
    # round robin over D = 0, 10, 20 ms: every login a warm one, its two calls and a 302
    assert latency["calls_per_login"] == WARM_CALLS
    assert latency["statuses"] == {"302": 3 * TINY.latency_logins}
    for d, figures in latency["per_call_ms"].items():
        assert figures["logins"] == TINY.latency_logins
        assert figures["extra_over_latency"] == pytest.approx(figures["extra_ms"] / int(d))
        assert figures["waited_over_latency"] >= 1.0  # every D login really waited D at least
    assert "injected per-call latency" in format_table(report)


@pytest.mark.slow
def test_warm_cpu_is_set_against_the_two_calls_and_the_signature_check(report: dict[str, Any]) -> None:
    floor = report["floor"]
    assert floor["parse_and_signature_cpu_ms"] > 0 and floor["parse_and_signature_beside_warm_cpu_ms"] > 0
    # measured in the warm logins' own process, in blocks alternating with theirs
    assert floor["floor_blocks"] == WARM_BLOCKS
    assert floor["floor_rounds"] == WARM_BLOCKS * 5
    assert floor["warm_floor_cpu_ms"] == pytest.approx(
        floor["aws_two_calls_cpu_ms"] + floor["parse_and_signature_beside_warm_cpu_ms"])
    assert floor["warm_cpu_over_floor"] == pytest.approx(
        report["scenarios"]["warm"]["cpu_ms_per_login"] / floor["warm_floor_cpu_ms"])


@pytest.mark.slow
def test_before_and_after_are_measured_side_by_side_in_one_run(report: dict[str, Any]) -> None:
    before = report["before"]
    assert before["tree"]["path"] == str(THIS_TREE)
    # the before side signs in its own people, so its first logins create their profiles too
    assert before["scenarios"]["first"]["calls_per_login"]["sagemaker.CreateUserProfile"] == 1.0
    assert before["scenarios"]["warm"]["calls_per_login"] == WARM_CALLS
    assert set(before["latency"]["per_call_ms"]) == {"10", "20"}
    comparison = report["comparison"]
    assert set(comparison) == {"before", "after"}
    for side in comparison.values():
        assert set(side) >= {"warm_cpu_over_floor", "latency_extra_over_d",
                             "cold_start_over_import_boto3", "rss_ratio"}
        assert set(side["latency_extra_over_d"]) == {"10", "20"}
    table = format_table(report)
    assert "Before / after (one run)" in table
    assert "warm wall extra at D = 20 ms" in table and "cold start as packaged" in table


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
    assert len(report["targets"]) == 9
    assert all(isinstance(target["met"], bool) for target in report["targets"])
    json.dumps(report)
    table = format_table(report)
    assert "warm login" in table and "dynamodb.PutItem" in table and "Targets" in table


@pytest.mark.slow
def test_routing_figures_hold_the_load_its_memory_and_the_operators_validate(
        report: dict[str, Any]) -> None:
    large = report["table_size"]["large"]
    assert large["load_cpu_ms"] > 0 and large["load_rss_mb"] >= 0
    check = report["table_size"]["validate"]
    # its last line, on the table it was given; one warning: no account registry next to it
    assert check["summary"][0].endswith("/routing-large.yaml: 0 errors, 1 warning")
    assert check["wall_s"] > check["cpu_s"] > 0 and check["peak_rss_mb"] > 0
    for side in report["comparison"].values():
        assert side["table_teams"] == TINY.table_size and side["validate_cpu_s"] > 0
    assert "broker routing validate, s (CPU s)" in format_table(report)


def test_each_tree_is_given_the_table_its_lambda_reads(tmp_path: Any) -> None:
    assert lambda_routing_form(THIS_TREE) == "json"
    old = tmp_path / "old"
    (old / "broker").mkdir(parents=True)
    (old / "broker" / "routing.py").write_text("def load_routing_table(path): ...\n")
    assert lambda_routing_form(old) == "yaml"


def test_a_tree_from_before_the_bytecode_is_packaged_as_it_packaged_itself(tmp_path: Any) -> None:
    """Its script always downloaded the wheels; the bench copies the broker package its way."""
    old = tmp_path / "old"
    for part in ("broker/__pycache__", "broker/emulator", "broker/local", "broker/ops", "scripts"):
        (old / part).mkdir(parents=True)
    for name in ("broker/handler.py", "broker/cli.py", "broker/__pycache__/handler.cpython-311.pyc",
                 "broker/emulator/x.py", "broker/ops/y.py"):
        (old / name).write_text("")
    (old / "scripts" / "package-lambda.sh").write_text("pip install --target \"$OUT\" ...\n")
    out = package(old, tmp_path / "artifact")
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == [
        "broker", "broker/handler.py"]


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
    with pytest.raises(ValueError, match="latencies_ms"):
        BenchOptions(latencies_ms=(10, 0))


def test_a_before_tree_must_hold_a_broker(tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="holds no broker package"):
        BenchOptions(before=str(tmp_path))


def test_latencies_and_before_are_bench_options() -> None:
    args = build_parser().parse_args(["bench", "--latencies", "5,15", "--before", "/tmp/x"])
    assert (args.latencies, args.before) == ((5, 15), "/tmp/x")
    with pytest.raises(SystemExit):
        build_parser().parse_args(["bench", "--latencies", "10,0"])
