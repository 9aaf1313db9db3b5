"""``broker init``: the bootstrap files for an organisation, loadable as written, never clobbering."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.aws import AwsClients
from broker.cli import main
from broker.ops import rollout
from broker.ops.accounts import load_accounts
from broker.ops.routing_source import load_routing_table

HUB, SPOKE_A, SPOKE_B = "123456789012", "111122223333", "444455556666"
INIT = ["init", "--hub-account", HUB, "--hub-region", "eu-west-1",
        "--spoke", f"{SPOKE_A}:eu-west-1,eu-central-1", "--spoke", f"{SPOKE_B}:eu-west-1"]


def test_init_writes_a_bootstrap_table_and_registry_that_load(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*INIT, "--directory", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "next (docs/deployment.md):" in out and "AcsUrl output" in out

    table = load_routing_table(tmp_path / "routing.yaml")
    assert (dict(table.applications), dict(table.teams)) == ({}, {})
    assert table.service_provider.entity_id == f"urn:studio-broker:{HUB}"
    assert len(table.spoke_access.external_id) >= 32  # random per organisation, not a sample value
    registry = load_accounts(tmp_path / "accounts")
    assert registry.settings.broker_role_arn == f"arn:aws:iam::{HUB}:role/studio-broker"
    ranges = [region.vpc_cidr for account in registry.accounts.values() for region in account.regions]
    assert sorted(ranges) == ["10.20.0.0/16", "10.21.0.0/16", "10.22.0.0/16"]  # never overlapping

    assert main(["routing", "validate", str(tmp_path / "routing.yaml")]) == 0
    assert main(["routing", "hub-parameters", str(tmp_path / "routing.yaml")]) == 0
    # The placeholder ACS URL is not a custom domain: the hub reports its own execute-api URL.
    assert ' CustomAcsUrl="" ' in capsys.readouterr().out.splitlines()[-1]


def test_two_organisations_get_different_external_ids(tmp_path: Path) -> None:
    for name in ("one", "two"):
        assert main([*INIT, "--directory", str(tmp_path / name)]) == 0
    ids = {load_routing_table(tmp_path / name / "routing.yaml").spoke_access.external_id
           for name in ("one", "two")}
    assert len(ids) == 2


def test_init_never_replaces_files_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*INIT, "--directory", str(tmp_path)]) == 0
    (tmp_path / "routing.yaml").write_text("# the operator's own table\n")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*.yaml")}

    assert main([*INIT, "--directory", str(tmp_path)]) == 1
    assert "nothing written (--force replaces them)" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*.yaml")} == before

    assert main([*INIT, "--directory", str(tmp_path), "--force"]) == 0
    assert load_routing_table(tmp_path / "routing.yaml").teams == {}


@pytest.mark.parametrize("arguments", [
    ["--spoke", "1111:eu-west-1"], ["--spoke", f"{SPOKE_A}"], ["--hub-region", "eu-west-1"],
], ids=["short-account", "no-region", "no-hub-account"])
def test_bad_arguments_are_usage_errors_and_write_nothing(tmp_path: Path, arguments: list[str]) -> None:
    base = [] if "--hub-region" in arguments else ["--hub-account", HUB, "--hub-region", "eu-west-1"]
    with pytest.raises(SystemExit) as exit_info:
        main(["init", "--directory", str(tmp_path), *base, *arguments])
    assert exit_info.value.code == 2
    assert list(tmp_path.iterdir()) == []


def test_a_value_the_loaders_refuse_writes_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*INIT, "--directory", str(tmp_path), "--acs-url", "http://broker.example.com/saml"]) == 1
    assert "does not load; nothing written" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_init_in_govcloud_writes_aws_us_gov_arns_and_refuses_a_spoke_outside_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gov = ["init", "--hub-account", HUB, "--hub-region", "us-gov-west-1",
           "--spoke", f"{SPOKE_A}:us-gov-west-1,us-gov-east-1"]
    assert main([*gov, "--directory", str(tmp_path / "gov")]) == 0
    registry = load_accounts(tmp_path / "gov" / "accounts")
    assert registry.settings.broker_role_arn == f"arn:aws-us-gov:iam::{HUB}:role/studio-broker"
    rollout_yaml = (tmp_path / "gov" / "accounts" / "rollout.yaml").read_text()
    assert "# reconcile_role_arn: arn:aws-us-gov:iam::" in rollout_yaml
    capsys.readouterr()

    assert main([*gov, "--spoke", f"{SPOKE_B}:eu-west-1", "--directory", str(tmp_path / "mixed")]) == 1
    err = capsys.readouterr().err
    assert "region eu-west-1 is in partition aws; the hub's broker_role_arn is in aws-us-gov" in err
    assert "nothing written" in err
    assert not (tmp_path / "mixed").exists() or list((tmp_path / "mixed").iterdir()) == []


def test_the_written_spokes_roll_out_in_the_emulator(clients: AwsClients, tmp_path: Path) -> None:
    assert main([*INIT, "--directory", str(tmp_path)]) == 0
    registry = load_accounts(tmp_path / "accounts")

    summary = rollout.apply(clients, registry, load_routing_table(tmp_path / "routing.yaml"), poll_seconds=0)

    assert summary.ok, summary.failed
    created = sorted((r.stack_set, r.account, r.region) for r in summary.results)
    assert created == [
        ("studio-spoke-domain", SPOKE_A, "eu-central-1"), ("studio-spoke-domain", SPOKE_A, "eu-west-1"),
        ("studio-spoke-domain", SPOKE_B, "eu-west-1"),
        ("studio-spoke-network", SPOKE_A, "eu-central-1"), ("studio-spoke-network", SPOKE_A, "eu-west-1"),
        ("studio-spoke-network", SPOKE_B, "eu-west-1")]
