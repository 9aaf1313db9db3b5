"""The account registry: valid files load typed; every problem names file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from broker.exceptions import ConfigurationError
from broker.ops.accounts import load_accounts, routing_problems
from broker.ops.routing_source import load_routing_table

from .conftest import ROLLOUT_YAML, account_yaml, routing_of, team

REPO = Path(__file__).parent.parent.parent


def test_the_repository_registry_loads_and_covers_routing_yaml() -> None:
    registry = load_accounts(REPO / "accounts")
    assert sorted(registry.accounts) == ["111111111111", "222222222222"]
    assert registry.settings.preferences.to_api() == {
        "MaxConcurrentPercentage": 50, "FailureTolerancePercentage": 0, "RegionConcurrencyType": "PARALLEL"}
    assert registry.accounts["222222222222"].regions[0].zones == ("eu-west-1a", "eu-west-1b")
    assert routing_problems(registry, load_routing_table(REPO / "routing.yaml", check_expiry=False)) == []


def write(tmp_path: Path, name: str, text: str) -> Path:
    root = tmp_path / "accounts"
    root.mkdir(exist_ok=True)
    (root / "rollout.yaml").write_text(ROLLOUT_YAML)
    (root / name).write_text(text)
    return root


@pytest.mark.parametrize(("name", "text", "message"), [
    ("111111111111.yaml", account_yaml("222222222222", [("us-east-1", "d")]),
     "111111111111.yaml:2:13: account_id: the file is named 111111111111.yaml "
     "but describes account 222222222222"),
    ("111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]).replace(
        "10.20.32.0/19", "10.99.0.0/19"),
     "regions[0].private_subnet_cidrs[1]: 10.99.0.0/19 is not inside the VPC's 10.20.0.0/16"),
    ("111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]).replace(
        "10.20.32.0/19", "10.20.16.0/20"),
     "regions[0].private_subnet_cidrs[1]: 10.20.16.0/20 overlaps private_subnet_cidrs[0] 10.20.0.0/19"),
    ("111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d"), ("us-east-1", "e")]),
     "regions[1].region: region us-east-1 is listed twice (first at regions[0])"),
    ("111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]).replace(
        'account_id: "111111111111"', "account_id: 111111111111"),
     'account_id: expected a string, got a number (111111111111); write it in quotes: "111111111111"'),
    ("111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]) + "regoins: []\n",
     "regoins: unknown field 'regoins' (did you mean 'regions'?)"),
    ("notes.yaml", "a: 1\n", "notes.yaml:1:1: unexpected file"),
])
def test_invalid_files_are_refused_with_their_place(
        tmp_path: Path, name: str, text: str, message: str) -> None:
    root = write(tmp_path, name, text)
    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)
    assert any(message in problem for problem in raised.value.problems), raised.value.problems


def test_missing_settings_are_refused(tmp_path: Path) -> None:
    root = write(tmp_path, "111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]))
    (root / "rollout.yaml").unlink()
    with pytest.raises(ConfigurationError, match="rollout.yaml:1:1: missing"):
        load_accounts(root)


def test_routing_may_only_point_at_registered_accounts_regions_and_domains(tmp_path: Path) -> None:
    root = write(tmp_path, "111111111111.yaml", account_yaml("111111111111", [("us-east-1", "studio")]))
    registry = load_accounts(root)
    routing = routing_of(
        team("ok", "111111111111", "us-east-1", "studio"),
        team("elsewhere", "333333333333", "us-east-1", "studio"),
        team("wrongregion", "111111111111", "eu-west-1", "studio"),
        team("wrongdomain", "111111111111", "us-east-1", "other"))
    assert routing_problems(registry, routing) == [
        "routing.yaml: teams[elsewhere]: account 333333333333 is not registered "
        f"(add {root}/333333333333.yaml)",
        "routing.yaml: teams[wrongregion]: region eu-west-1 is not one of account 111111111111's regions "
        f"(us-east-1) in {root}/111111111111.yaml",
        "routing.yaml: teams[wrongdomain]: domain name 'other' is not the domain the rollout makes in "
        "111111111111 us-east-1 ('studio')",
    ]


def test_the_hub_reconcile_role_is_optional_and_must_be_a_role_arn(tmp_path: Path) -> None:
    root = write(tmp_path, "111111111111.yaml", account_yaml("111111111111", [("us-east-1", "d")]))
    settings = load_accounts(root).settings
    assert (settings.reconcile_role_arn, settings.reconcile_role_name) == ("", "StudioBrokerReconcile")
    arn = "arn:aws:iam::123456789012:role/studio-broker-ReconcileRole-1A2B"
    given = ROLLOUT_YAML.replace("region: us-east-1}", f'region: us-east-1, reconcile_role_arn: "{arn}", '
                                                       "reconcile_role_name: OffboardingJob}")
    (root / "rollout.yaml").write_text(given)
    settings = load_accounts(root).settings
    assert (settings.reconcile_role_arn, settings.reconcile_role_name) == (arn, "OffboardingJob")
    (root / "rollout.yaml").write_text(given.replace(arn, "studio-broker-ReconcileRole"))
    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)
    problems = raised.value.problems
    assert any("hub.reconcile_role_arn" in problem for problem in problems), problems


def test_hub_and_spokes_must_share_one_partition(tmp_path: Path) -> None:
    root = write(tmp_path, "111111111111.yaml", account_yaml("111111111111", [
        ("us-east-1", "d"), ("us-gov-west-1", "e"), ("cn-north-1", "f")]))
    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)
    why = "the hub's broker_role_arn is in aws, and a hub reaches only the accounts of its own partition"
    assert raised.value.problems == [
        f"{root}/111111111111.yaml:9:13: regions[1].region: region us-gov-west-1 is in partition "
        f"aws-us-gov; {why}",
        f"{root}/111111111111.yaml:13:13: regions[2].region: region cn-north-1 is in partition aws-cn; {why}",
    ]

    (root / "111111111111.yaml").write_text(account_yaml("111111111111", [("us-gov-west-1", "e")]))
    (root / "rollout.yaml").write_text(ROLLOUT_YAML.replace("arn:aws:", "arn:aws-us-gov:"))
    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)
    assert [p.split(": ", 1)[1] for p in raised.value.problems] == [
        "hub.region: region us-east-1 is in partition aws; the hub's broker_role_arn is in aws-us-gov, "
        "and a hub reaches only the accounts of its own partition"]

    (root / "rollout.yaml").write_text(ROLLOUT_YAML.replace("arn:aws:", "arn:aws-us-gov:").replace(
        "region: us-east-1}", "region: us-gov-west-1}"))
    registry = load_accounts(root)
    assert [r.region for r in registry.accounts["111111111111"].regions] == ["us-gov-west-1"]
