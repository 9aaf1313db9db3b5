"""The runtime's routing table: the compiled file, its envelope, and the per-container loader."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broker import routing
from broker.config import RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops.hub_parameters import routing_digest
from broker.ops.routing_source import compile_routing_file, parse_routing_table
from broker.routing import (
    COMPILED_FORMAT,
    clear_cache,
    load_compiled_table,
    routing_table_from_env,
    routing_table_path,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures" / "routing"
VALID = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")


def compiled(tmp_path: Path, text: str = VALID, name: str = "routing.yaml") -> Path:
    source = tmp_path / name
    source.write_text(text, encoding="utf-8")
    target = tmp_path / "routing.json"
    target.write_text(compile_routing_file(source), encoding="utf-8")
    return target


def test_the_compiled_table_is_the_table_the_operator_path_judged(tmp_path: Path) -> None:
    loaded = load_compiled_table(compiled(tmp_path))
    judged = parse_routing_table(VALID, "routing.yaml")
    assert loaded.teams == judged.teams and loaded.applications == judged.applications
    assert loaded.service_provider == judged.service_provider
    assert loaded.spoke_access == judged.spoke_access
    assert loaded.source == "routing.yaml"
    assert loaded.digest == routing_digest(VALID.encode()) == judged.digest


def test_the_envelope_names_format_source_and_digest(tmp_path: Path) -> None:
    envelope = json.loads(compiled(tmp_path).read_text())
    assert envelope["format"] == COMPILED_FORMAT
    assert envelope["source"] == "routing.yaml"
    assert envelope["source_sha256"] == routing_digest(VALID.encode())
    assert set(envelope) == {"format", "source", "source_sha256", "table", "deployed_domains"}
    assert envelope["deployed_domains"] == []  # compiled without an account registry


def test_the_registry_s_domains_travel_in_the_compiled_table_and_old_files_read_as_none(
        tmp_path: Path) -> None:
    from broker.config import DeployedDomain

    source = tmp_path / "routing.yaml"
    source.write_text(VALID, encoding="utf-8")
    deployed = (DeployedDomain("111111111111", "us-east-1", "team1studio"),
                DeployedDomain("222222222222", "eu-central-1", "formerstudio"))
    target = tmp_path / "routing.json"
    target.write_text(compile_routing_file(source, deployed=deployed), encoding="utf-8")
    assert load_compiled_table(target).deployed_domains == deployed

    envelope = json.loads(target.read_text())
    del envelope["deployed_domains"]  # a table packaged before this field: the same table, no domains
    target.write_text(json.dumps(envelope), encoding="utf-8")
    assert load_compiled_table(target).deployed_domains == ()


def test_the_digest_is_of_the_file_s_bytes_crlf_included(tmp_path: Path) -> None:
    """The hub's RoutingDigest is the SHA-256 of the file as shipped; no newline translation."""
    source = tmp_path / "routing.yaml"
    source.write_bytes(VALID.replace("\n", "\r\n").encode())
    envelope = json.loads(compile_routing_file(source))
    assert envelope["source_sha256"] == routing_digest(source.read_bytes())


def test_a_table_with_errors_is_not_compiled(tmp_path: Path) -> None:
    source = tmp_path / "routing.yaml"
    source.write_text(VALID.replace("region: us-east-1", "region: us-east", 1))
    with pytest.raises(ConfigurationError) as caught:
        compile_routing_file(source)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{source}:") and ".region: 'us-east' does not match" in problem


def test_the_compile_command_takes_the_registry_next_to_the_table_and_refuses_a_broken_one(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from broker.cli import main
    from tests.ops.conftest import ROLLOUT_YAML, account_yaml

    source, target = tmp_path / "routing.yaml", tmp_path / "out" / "routing.json"
    source.write_text(VALID, encoding="utf-8")
    assert main(["routing", "compile", str(source), "--output", str(target)]) == 0
    assert "no account registry at" in capsys.readouterr().err
    assert load_compiled_table(target).deployed_domains == ()

    accounts = tmp_path / "accounts"
    accounts.mkdir()
    (accounts / "rollout.yaml").write_text(ROLLOUT_YAML)
    (accounts / "111111111111.yaml").write_text(account_yaml("111111111111", [("us-east-1", "team1studio")]))
    assert main(["routing", "compile", str(source), "--output", str(target)]) == 0
    assert [d.name for d in load_compiled_table(target).deployed_domains] == ["team1studio"]

    target.unlink()
    (accounts / "111111111111.yaml").write_text("version: 1\n")
    assert main(["routing", "compile", str(source), "--output", str(target)]) == 1
    assert "111111111111.yaml" in capsys.readouterr().err and not target.exists()


@pytest.mark.parametrize(("content", "why"), [
    (b"{not json", "not a compiled routing table"),
    (b"[1, 2]", "compiled table format None"),
    (json.dumps({"format": COMPILED_FORMAT + 1, "table": {}}).encode(), "compiled table format 2"),
    (json.dumps({"format": COMPILED_FORMAT, "source": "x", "source_sha256": "y",
                 "table": {"teams": []}}).encode(), "not a compiled routing table"),
])
def test_what_is_not_this_broker_s_compiled_table_is_refused_with_what_to_do(
    tmp_path: Path, content: bytes, why: str
) -> None:
    path = tmp_path / "routing.json"
    path.write_bytes(content)
    with pytest.raises(ConfigurationError) as caught:
        load_compiled_table(path)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: ") and why in problem
    assert "package the Lambda again" in problem


def test_a_missing_compiled_table_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_compiled_table(tmp_path / "routing.json")
    (problem,) = caught.value.problems
    assert "cannot read the compiled routing table" in problem and "package-lambda.sh" in problem


def test_an_oversized_compiled_file_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = compiled(tmp_path)
    monkeypatch.setattr(routing, "MAX_COMPILED_BYTES", path.stat().st_size - 1)
    with pytest.raises(ConfigurationError) as caught:
        load_compiled_table(path)
    assert "larger than" in caught.value.problems[0]


def test_the_runtime_loads_the_table_without_yaml_or_schema_code(tmp_path: Path) -> None:
    path = compiled(tmp_path)
    code = ("import sys; from broker.routing import load_compiled_table;"
            f"table = load_compiled_table({str(path)!r});"
            "print(len(table.teams), sorted(m for m in sys.modules"
            " if m.split('.')[0] in ('yaml', 'jsonschema', '_yaml')"
            " or m.startswith(('broker.ops', 'broker.schema'))))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO)
    assert result.stdout.split(" ", 1) == ["3", "[]\n"]  # valid.yaml: 3 teams


def test_load_pauses_the_garbage_collector_and_restores_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = compiled(tmp_path)
    seen: list[bool] = []
    build = routing.build_routing_table

    def recording(*args: Any) -> RoutingTable:
        seen.append(gc.isenabled())
        return build(*args)

    monkeypatch.setattr(routing, "build_routing_table", recording)
    assert gc.isenabled()
    load_compiled_table(path)
    assert seen == [False] and gc.isenabled()
    path.write_text("[]")
    with pytest.raises(ConfigurationError):
        load_compiled_table(path)
    assert gc.isenabled()


# --- the per-container loader ------------------------------------------------------------------


@pytest.fixture
def routing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    path = compiled(tmp_path)
    monkeypatch.setenv(routing.ROUTING_FILE_ENV, str(path))
    clear_cache()
    yield path
    clear_cache()


def test_env_loader_caches_until_cleared(routing_env: Path, tmp_path: Path) -> None:
    first = routing_table_from_env()
    assert first.teams["team1"].region == "us-east-1"
    compiled(tmp_path, VALID.replace("region: us-east-1", "region: us-west-2"))
    assert routing_table_from_env() is first
    clear_cache()
    reloaded = routing_table_from_env()
    assert reloaded is not first
    assert reloaded.teams["team1"].region == "us-west-2"


def test_env_loader_does_not_cache_a_failure(routing_env: Path, tmp_path: Path) -> None:
    routing_env.write_text("{}")
    with pytest.raises(ConfigurationError):
        routing_table_from_env()
    compiled(tmp_path)
    assert routing_table_from_env().teams["team1"].account_id == "111111111111"


def test_default_path_is_the_compiled_file_in_the_task_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(routing.ROUTING_FILE_ENV, raising=False)
    monkeypatch.delenv("LAMBDA_TASK_ROOT", raising=False)
    assert routing_table_path() == REPO / "routing.json"
    monkeypatch.setenv("LAMBDA_TASK_ROOT", str(tmp_path))
    assert routing_table_path() == tmp_path / "routing.json"
    monkeypatch.setenv(routing.ROUTING_FILE_ENV, "custom/routing.json")
    assert routing_table_path() == Path("custom/routing.json")
