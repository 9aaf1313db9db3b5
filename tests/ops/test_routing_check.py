"""``broker routing validate``: the broken-file corpus, each rule, the output formats, exit codes."""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from broker.cli import main
from broker.config import RoutingTable
from broker.exceptions import ConfigurationError
from broker.ops import accounts, routing_check
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.routing_check import (
    RULES,
    CheckOptions,
    Finding,
    check_routing_file,
    check_routing_text,
    has_errors,
    load_registry,
    render_github,
    render_json,
    render_text,
)
from broker.ops.routing_commands import parse_expected_users
from broker.ops.routing_source import parse_routing_table

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
BROKEN = FIXTURES / "routing_broken"
BASE = (FIXTURES / "routing_edits" / "base.yaml").read_text(encoding="utf-8")
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CORPUS = sorted(BROKEN.glob("*.yaml"))
# Rules no routing file can trigger: they are about the account registry itself.
REGISTRY_ONLY = {"accounts-invalid", "accounts-missing"}


@pytest.fixture(scope="module")
def registry() -> Iterator[AccountRegistry]:
    # Loaded from tests/fixtures so that messages name "routing_accounts/...", wherever pytest runs.
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        yield load_accounts("routing_accounts")
    finally:
        os.chdir(cwd)


def options_of(text: str) -> CheckOptions:
    """A fixture's ``# check: --expected-users ...`` line, as the command line reads it."""
    users: list[str] = []
    for line in text.splitlines():
        if line.startswith("# check:"):
            words = shlex.split(line.removeprefix("# check:"))
            users += [words[i + 1] for i, word in enumerate(words) if word == "--expected-users"]
    return CheckOptions(now=NOW, expected_users=parse_expected_users(users))


def check(text: str, registry: AccountRegistry | None, source: str = "routing.yaml",
          **options: object) -> list[Finding]:
    return check_routing_text(text, source, registry, CheckOptions(now=NOW, **options))  # type: ignore[arg-type]


def edited(*replacements: tuple[str, str], append: str = "") -> str:
    text = BASE
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text + append


# --- the corpus --------------------------------------------------------------------------------


def test_the_corpus_has_at_least_25_broken_files_each_with_its_expected_findings() -> None:
    assert len(CORPUS) >= 25
    for path in CORPUS:
        expected = path.with_suffix(".expected")
        assert expected.is_file(), f"{expected.name} is missing"
        assert expected.read_text(encoding="utf-8").strip(), f"{expected.name} expects nothing"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_file_yields_exactly_the_expected_findings(path: Path, registry: AccountRegistry) -> None:
    text = path.read_text(encoding="utf-8")
    found = check_routing_text(text, path.name, registry, options_of(text))
    expected = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    assert [str(f) for f in found] == expected
    assert all(f.rule in RULES and f.severity == RULES[f.rule].severity or f.rule == "domain-capacity"
               for f in found)


def test_the_corpus_exercises_every_rule_a_routing_file_can_break() -> None:
    seen = {line.split("[", 1)[1].split("]", 1)[0]
            for path in CORPUS for line in path.with_suffix(".expected").read_text().splitlines()}
    assert seen == set(RULES) - REGISTRY_ONLY


def test_every_loader_message_has_a_rule_and_every_rule_id_is_catalogued() -> None:
    assert {rule for rule, _ in routing_check.LOADER_RULES} <= set(RULES)
    assert all(rule.severity in ("error", "warning") and rule.summary for rule in RULES.values())


# --- valid tables ------------------------------------------------------------------------------


def test_the_edits_base_table_has_no_findings(registry: AccountRegistry) -> None:
    assert check(BASE, registry) == []


def test_the_repository_routing_yaml_passes_against_the_repository_accounts() -> None:
    found = check_routing_text((REPO / "routing.yaml").read_text(), "routing.yaml",
                               load_accounts(REPO / "accounts"), CheckOptions(now=NOW))
    assert [str(f) for f in found] == []


def test_registry_checks_agree_with_the_rollouts_own_check(registry: AccountRegistry) -> None:
    """Every table the rollout refuses (accounts.routing_problems) gets an error here too."""
    registry_rules = {"account-not-registered", "region-not-deployed", "domain-not-deployed",
                      "spoke-access-conflict"}
    compared = 0
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        try:
            table: RoutingTable = parse_routing_table(text, path.name, check_expiry=False)
        except Exception:  # noqa: BLE001 - tables the loader refuses never reach the rollout
            continue
        compared += 1
        rollout_refuses = bool(accounts.routing_problems(registry, table))
        found = {f.rule for f in check_routing_text(text, path.name, registry, options_of(text))}
        assert rollout_refuses == bool(found & registry_rules), path.name
    assert compared >= 8


# --- single rules and options ------------------------------------------------------------------


def test_without_a_registry_the_registry_rules_are_skipped() -> None:
    text = (BROKEN / "account_not_registered.yaml").read_text()
    assert check(text, None) == []


def test_without_a_registry_the_first_team_names_the_partition() -> None:
    text = (BROKEN / "team_partition.yaml").read_text()
    found = check(text, None)
    assert [(f.rule, f.field) for f in found] == [("team-partition", "teams[1].region")]
    assert "us-gov-west-1 is in partition aws-us-gov; the first team, 'team1' (us-east-1), is in aws" in (
        found[0].problem.message)
    # One partition throughout: nothing to say, with or without the registry.
    assert check(text.replace("region: us-gov-west-1", "region: eu-west-1"), None) == []


def test_certificate_warning_window_is_an_option(registry: AccountRegistry) -> None:
    text = (BROKEN / "certificate_expires_soon.yaml").read_text()
    assert [f.rule for f in check(text, registry, cert_warning_days=30)] == ["certificate-expires-soon"]
    assert check(text, registry, cert_warning_days=5) == []


def test_capacity_is_not_judged_without_expected_users(registry: AccountRegistry) -> None:
    text = (BROKEN / "domain_capacity_over_quota.yaml").read_text()
    assert check(text, registry) == []
    below = check(text, registry, expected_users={"*": 100})  # 200 of 500: 40%
    assert below == []
    quota = check(text, registry, expected_users={"*": 100}, profile_quota=220)  # 200 of 220
    assert [(f.rule, f.severity) for f in quota] == [("domain-capacity", "warning")]
    assert "200 user profiles (team1: 100, team3: 100), 91% of its quota of 220" in quota[0].problem.message


def test_capacity_comes_from_the_table_and_the_registry_so_ci_checks_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = BROKEN / "domain_capacity_from_table.yaml"
    # CI's command line: no --expected-users, no --profile-quota.
    assert main(["routing", "validate", str(table), "--accounts", str(FIXTURES / "routing_accounts")]) == 1
    out = capsys.readouterr().out
    assert "error [domain-capacity] teams[2].domain: " in out and "550 user profiles" in out

    # The spoke's real quota, in the registry; the command line still wins over both.
    accounts_copy = tmp_path / "accounts"
    accounts_copy.mkdir()
    for path in (FIXTURES / "routing_accounts").iterdir():
        (accounts_copy / path.name).write_text(path.read_text())
    spoke = accounts_copy / "111111111111.yaml"
    spoke.write_text(spoke.read_text().replace("    domain_name: team1studio\n",
                                               "    domain_name: team1studio\n    user_profile_quota: 600\n"))
    registry = load_accounts(accounts_copy)
    text = table.read_text()
    [near] = check(text, registry)
    assert (near.rule, near.severity) == ("domain-capacity", "warning")
    assert "550 user profiles (team1: 300, team3: 250), 92% of its quota of 600" in near.problem.message
    assert check(text, registry, profile_quota=1000) == []
    [over] = check(text, registry, expected_users={"team1": 400})
    assert "650 user profiles (team1: 400, team3: 250)" in over.problem.message


def test_a_negative_profile_quota_in_the_registry_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "accounts"
    root.mkdir()
    for path in (FIXTURES / "routing_accounts").iterdir():
        (root / path.name).write_text(path.read_text())
    spoke = root / "222222222222.yaml"
    spoke.write_text(spoke.read_text() + "    user_profile_quota: -1\n")
    with pytest.raises(ConfigurationError) as raised:
        load_accounts(root)
    [problem] = raised.value.problems
    assert problem.startswith(f"{spoke}:6:25: regions[0].user_profile_quota: -1 is out of range")


def test_a_disabled_team_with_a_message_says_which(registry: AccountRegistry) -> None:
    text = edited(("    domain: {name: team2studio}\n",
                   "    domain: {name: team2studio}\n    enabled: false\n"
                   "    disabled_message: Upgrade until 14:00 UTC\n"))
    [found] = check(text, registry)
    assert found.rule == "team-disabled" and found.severity == "warning"
    assert "with the message 'Upgrade until 14:00 UTC'" in found.problem.message
    assert not has_errors([found]) and has_errors([found], strict=True)


def test_role_names_are_compared_without_case_and_arn_paths(registry: AccountRegistry) -> None:
    text = edited(("    teams: [team1]\n", "    teams: [team1, team3]\n"), append=(
        "  - id: team3\n    account: \"111111111111\"\n    region: us-east-1\n"
        "    domain: {name: team1studio}\n"
        "    execution_role: arn:aws:iam::111111111111:role/teams/Studio-Team1-Execution\n"))
    assert [f.rule for f in check(text, registry)] == ["execution-role-shared"]


def test_the_stacksets_execution_role_name_is_reserved(registry: AccountRegistry) -> None:
    text = edited(("execution_role: studio-team1-execution",
                   "execution_role: AWSCloudFormationStackSetExecutionRole"))
    [found] = check(text, registry)
    assert (found.rule, found.field) == ("execution-role-reserved", "teams[0].execution_role")
    assert "is a StackSets role" in found.problem.message


def test_registry_problems_become_findings_at_their_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "rollout.yaml").write_text("version: 1\nhub: {broker_role_arn: nope}\n")
    (tmp_path / "111111111111.yaml").write_text('version: 1\naccount_id: "111111111111"\nregions: []\n')
    registry, found = load_registry(tmp_path)
    assert registry is None
    assert {f.rule for f in found} == {"accounts-invalid"}
    assert {(Path(f.problem.source).name, f.problem.line) for f in found} == {
        ("rollout.yaml", 2), ("111111111111.yaml", 3)}
    missing, found = load_registry(tmp_path / "nowhere")
    assert missing is None and [(f.rule, f.severity) for f in found] == [("accounts-missing", "warning")]


# --- output formats ----------------------------------------------------------------------------


def test_text_json_and_github_formats(registry: AccountRegistry) -> None:
    text = (BROKEN / "unknown_field_typo.yaml").read_text()
    found = check(text, registry, source="routing.yaml")
    assert render_text("routing.yaml", found).splitlines()[-1] == "routing.yaml: 2 errors, 0 warnings"
    data = json.loads(render_json("routing.yaml", found))
    assert (data["ok"], data["errors"], data["warnings"]) == (False, 2, 0)
    assert data["findings"][1] == {
        "rule": "schema-unknown-field", "severity": "error", "file": "routing.yaml", "line": 47,
        "column": 5, "field": "teams[1].regoin", "message": "unknown field 'regoin' (did you mean 'region'?)"}
    github = render_github("routing.yaml", found).splitlines()
    assert github[1] == ("::error file=routing.yaml,line=47,col=5,title=schema-unknown-field::"
                         "teams[1].regoin: unknown field 'regoin' (did you mean 'region'?)")


def test_github_annotations_escape_newlines_percent_and_property_separators() -> None:
    from broker.ops.yamldoc import Problem

    found = [routing_check.finding("schema-value", Problem("dir,a:b.yaml", 3, 4, (), "50%\nnext"))]
    assert render_github("x", found).splitlines()[0] == (
        "::error file=dir%2Ca%3Ab.yaml,line=3,col=4,title=schema-value::50%25%0Anext")


# --- the command line --------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["routing", "validate", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_code_0_for_the_repository_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(REPO / "routing.yaml"), "--accounts", str(REPO / "accounts"))
    assert (code, out.strip()) == (0, f"{REPO / 'routing.yaml'}: no problems")


def test_cli_exit_code_1_for_problems_with_github_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    path = BROKEN / "region_not_deployed.yaml"
    code, out, _ = run(capsys, str(path), "--accounts", str(FIXTURES / "routing_accounts"),
                       "--format", "github")
    assert code == 1
    assert out.splitlines()[0].startswith(f"::error file={path},line=47,col=13,title=region-not-deployed::")


def test_cli_warnings_pass_unless_strict(capsys: pytest.CaptureFixture[str]) -> None:
    argv = (str(BROKEN / "team_disabled.yaml"), "--accounts", str(FIXTURES / "routing_accounts"))
    assert run(capsys, *argv)[0] == 0
    assert run(capsys, *argv, "--strict")[0] == 1


def test_cli_capacity_options(capsys: pytest.CaptureFixture[str]) -> None:
    argv = (str(BROKEN / "domain_capacity_over_quota.yaml"), "--accounts", str(FIXTURES / "routing_accounts"))
    assert run(capsys, *argv, "--expected-users", "100")[0] == 0
    code, out, _ = run(capsys, *argv, "--expected-users", "100", "--expected-users", "team1=350")
    assert code == 0 and "warning [domain-capacity]" in out and "(team1: 350, team3: 100), 90%" in out
    code, out, _ = run(capsys, *argv, "--expected-users", "100", "--expected-users", "team1=450")
    assert code == 1 and "error [domain-capacity]" in out and "(team1: 450, team3: 100), 110%" in out


@pytest.mark.parametrize("argv", [
    ("does-not-exist.yaml",),
    (str(REPO / "routing.yaml"), "--expected-users", "team1=many"),
    (str(REPO / "routing.yaml"), "--format", "sarif"),
    (str(REPO / "routing.yaml"), "--cert-warning-days", "-1"),
])
def test_cli_exit_code_2_for_usage_errors(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]) -> None:
    try:
        code = main(["routing", "validate", *argv])
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    assert code == 2
    assert capsys.readouterr().err


def test_the_kill_switch_in_yaml_reaches_the_typed_team() -> None:
    """The switch itself (503 page, nothing created) is tested through the handler in tests/functional."""
    table = parse_routing_table((FIXTURES / "routing_edits" / "disable_team.yaml").read_text(), "x.yaml")
    team = table.teams["team1"]
    assert (team.enabled, team.disabled_message) == (False, "Studio is down for an upgrade until 14:00 UTC.")


def test_the_onboarding_guide_lists_every_rule() -> None:
    guide = (REPO / "docs" / "onboarding.md").read_text(encoding="utf-8")
    assert [rule for rule in RULES if f"| `{rule}` |" not in guide] == []


@pytest.mark.parametrize(("own", "with_team", "rules"), [
    (43, False, []), (43, True, []), (44, False, ["team-tag-budget"])])
def test_a_team_has_room_for_43_tags_of_its_own(
        registry: AccountRegistry, own: int, with_team: bool, rules: list[str]) -> None:
    # 50 per resource - Team, User - the domain's Purpose, managed-by - SageMaker's 3 ARN tags
    tags = ", ".join([f"Tag{n:02d}: x" for n in range(own)] + ["Team: team1"] * with_team)
    text = edited(("    execution_role: studio-team1-execution\n",
                   f"    execution_role: studio-team1-execution\n    tags: {{{tags}}}\n"))
    assert [f.rule for f in check(text, registry)] == rules


# --- trust material: certificate keys and dates, issuer form -----------------------------------

PEMS = FIXTURES / "routing"


def with_second_certificate(pem_file: str) -> str:
    """The base table with applications[1]'s certificate replaced by ``pem_file``'s."""
    lines = BASE.splitlines(keepends=True)
    begins = [i for i, line in enumerate(lines) if "BEGIN CERTIFICATE" in line]
    ends = [i for i, line in enumerate(lines) if "END CERTIFICATE" in line]
    pem = (PEMS / pem_file).read_text(encoding="utf-8")
    block = "".join(f"        {line}\n" for line in pem.strip().splitlines())
    return "".join(lines[:begins[1]]) + block + "".join(lines[ends[1] + 1:])


@pytest.mark.parametrize("pem_file", ["rsa-2048.pem", "other.pem"])
def test_strong_rsa_and_p256_certificates_pass(registry: AccountRegistry, pem_file: str) -> None:
    assert check(with_second_certificate(pem_file), registry) == []


@pytest.mark.parametrize(("pem_file", "weakness"), [
    ("weak-rsa-1024.pem", "RSA 1024-bit"), ("weak-ec-p224.pem", "EC secp224r1"),
    ("dsa-2048.pem", "DSA 2048-bit")])
def test_the_runtime_loader_refuses_a_weak_key_too(pem_file: str, weakness: str) -> None:
    """Defence in depth: the Lambda's own load (no date checks) never trusts a weak key."""
    with pytest.raises(ConfigurationError) as refused:
        parse_routing_table(with_second_certificate(pem_file), "routing.yaml", check_expiry=False)
    [problem] = refused.value.problems
    assert problem.startswith("routing.yaml:27:9: applications[1].certificates[0]: certificate ")
    assert f"has a signing key the broker refuses ({weakness})" in problem


def test_not_yet_valid_is_judged_by_ci_not_by_the_runtime(registry: AccountRegistry) -> None:
    text = with_second_certificate("not-yet-valid.pem")
    [found] = check(text, registry)
    assert (found.rule, found.field) == ("certificate-not-yet-valid", "applications[1].certificates[0]")
    message = found.problem.message
    assert "O=Studio Future,CN=amazonaws.com is not valid before 2027-06-01 00:00 UTC" in message
    later = CheckOptions(now=datetime(2027, 6, 1, 0, 1, tzinfo=UTC))
    assert check_routing_text(text, "routing.yaml", registry, later) == []
    # like expiry: a certificate that becomes valid while deployed must not stop the broker
    assert parse_routing_table(text, "routing.yaml", check_expiry=False).applications


ISSUER = "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/BBBB"


@pytest.mark.parametrize("issuer", [
    "https://portal.sso.eu-west-1.amazonaws.com/saml/assertion/MTIz", "https://idp.example.com",
    "http://www.okta.com/exk1a2b3c4", "https://accounts.google.com/o/saml2?idpid=C0abc",
    "https://idp.example.com:8443/realms/x", "urn:example:idp", "urn:amazon:webservices"])
def test_issuer_in_absolute_uri_form_passes(registry: AccountRegistry, issuer: str) -> None:
    assert check(edited((ISSUER, json.dumps(issuer))), registry) == []


@pytest.mark.parametrize("issuer", [
    "portal.sso.us-east-1.amazonaws.com/saml/assertion/BBBB", "BBBB", "https://", "https:///path",
    "https:/portal.sso.us-east-1.amazonaws.com", "//portal.sso.us-east-1.amazonaws.com/x", "urn:", "urn:x",
    "urn:example", "https://" + "a" * 1020,
    "mailto:idp@example.com",  # an absolute URI, but no IdP's entity id: URLs and URNs only
])
def test_issuer_not_in_absolute_uri_form_is_refused(registry: AccountRegistry, issuer: str) -> None:
    [found] = check(edited((ISSUER, json.dumps(issuer))), registry)
    assert (found.rule, found.field) == ("schema-value", "applications[1].issuer")


def test_a_file_over_the_size_bound_is_refused_without_being_read(tmp_path: Path) -> None:
    """A 50 MB table used to validate; now validate, plan and packaging never parse it."""
    from broker.ops.yamldoc import MAX_FILE_BYTES

    big = tmp_path / "routing.yaml"
    with big.open("wb") as file:
        file.truncate(MAX_FILE_BYTES + 1)  # sparse: no 16 MiB written
    (found,) = check_routing_file(big, None)
    assert found.rule == "yaml-too-large" and found.severity == "error"
    assert (found.problem.line, found.problem.column) == (1, 1)
    assert f"{MAX_FILE_BYTES + 1:,} bytes" in found.problem.message


def test_an_account_with_too_many_teams_is_refused_without_building_its_whole_template(
        registry: AccountRegistry) -> None:
    import time

    ids = [f"t{number}" for number in range(1000)]
    text = edited(("    teams: [team1]\n", "    teams: [team1, " + ", ".join(ids) + "]\n"), append="".join(
        f'  - id: {team_id}\n    account: "111111111111"\n    region: us-east-1\n'
        f"    domain: {{name: team1studio}}\n    execution_role: studio-{team_id}-execution\n"
        for team_id in ids))
    started = time.perf_counter()
    found = check(text, registry)
    elapsed = time.perf_counter() - started

    assert [(f.rule, f.field) for f in found] == [("team-roles-template-size", "teams[1001].account")]
    assert "account 111111111111 would have 1001 teams" in found[0].problem.message
    assert elapsed < 60  # seconds; it took minutes when each account's whole template was built and read
