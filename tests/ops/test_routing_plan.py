"""``broker routing plan``: valid edits of a routing table with their expected plans."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from broker.cli import main
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.routing_plan import MARKER, load_table, plan_routing, render_markdown, render_text

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
EDITS = FIXTURES / "routing_edits"
BASE = EDITS / "base.yaml"
CORPUS = sorted(p for p in EDITS.glob("*.yaml") if p != BASE)


@pytest.fixture(scope="module")
def registry() -> Iterator[AccountRegistry]:
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        yield load_accounts("routing_accounts")
    finally:
        os.chdir(cwd)


def sides(name: str) -> dict[str, str]:
    """An edit's ``# plan: key=value ...`` line: base-table (default base.yaml), base-accounts and
    head-accounts (directories under routing_edits/accounts; default the shared registry)."""
    text = (EDITS / f"{name}.yaml").read_text(encoding="utf-8")
    line = next((line for line in text.splitlines() if line.startswith("# plan:")), "# plan:")
    return dict(pair.split("=", 1) for pair in line.removeprefix("# plan:").split())


def registry_of(directory: str | None, default: AccountRegistry | None) -> AccountRegistry | None:
    if directory is None or default is None:
        return default
    cwd = os.getcwd()
    os.chdir(FIXTURES)
    try:
        return load_accounts(f"routing_edits/accounts/{directory}")
    finally:
        os.chdir(cwd)


def plan_of(name: str, registry: AccountRegistry | None):  # noqa: ANN201 - RoutingPlan
    given = sides(name)
    base = given.get("base-table", "base.yaml")
    old = load_table((EDITS / base).read_text(), base)
    new = load_table((EDITS / f"{name}.yaml").read_text(), f"{name}.yaml")
    # The pull request of each edit touches routing.yaml, and accounts/ when its registry changes.
    files = ["routing.yaml"] + (["accounts/changed.yaml"] if "head-accounts" in given else [])
    return plan_routing(old, new, registry_of(given.get("head-accounts"), registry), old_label=base,
                        new_label=f"{name}.yaml",
                        old_registry=registry_of(given.get("base-accounts"), registry),
                        changed_files=files)


def test_the_corpus_has_edits_each_with_an_expected_plan() -> None:
    assert len(CORPUS) >= 10
    for path in CORPUS:
        assert path.with_suffix(".plan.txt").is_file(), path.name


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_edit_yields_exactly_the_expected_plan(path: Path, registry: AccountRegistry) -> None:
    expected = path.with_suffix(".plan.txt").read_text(encoding="utf-8")
    assert render_text(plan_of(path.stem, registry)) + "\n" == expected


def test_reordering_comments_and_spelled_out_defaults_change_nothing(registry: AccountRegistry) -> None:
    plan = plan_of("reorder_and_defaults", registry)
    assert not plan.changed
    assert (plan.teams, plan.applications, plan.spokes, plan.identity_center) == ((), (), (), ())


def test_a_new_team_in_a_new_spoke_creates_its_stack_instances(registry: AccountRegistry) -> None:
    plan = plan_of("add_team_new_account", registry)
    assert [(t.name, t.kind) for t in plan.teams] == [("team4", "added")]
    assert {(s.stack_set, s.account, s.region, s.action) for s in plan.spokes or ()} == {
        ("studio-spoke-access", "444444444444", "eu-central-1", "create"),
        ("studio-team-roles-444444444444", "444444444444", "eu-central-1", "create")}
    [step] = plan.identity_center
    assert "Application ACS URL https://broker.example.com/prod/saml/acs" in step
    assert "Application SAML audience urn:example:studio-broker" in step
    assert "teamid -> the fixed value 'team4'" in step and "userid -> ${user:subject}" in step


def test_an_execution_role_change_says_existing_profiles_are_refused(registry: AccountRegistry) -> None:
    [team] = plan_of("change_execution_role", registry).teams
    assert [f.field for f in team.fields] == ["execution_role"]
    assert any("profile_execution_role_mismatch" in effect and "team2--*" in effect
               for effect in team.effects)


def test_moving_a_team_orphans_its_profiles_in_the_old_domain(registry: AccountRegistry) -> None:
    [team] = plan_of("move_team_region", registry).teams
    assert {f.field: (f.old, f.new) for f in team.fields} == {
        "region": ("us-east-1", "us-west-2"), "domain": ("name:team1studio", "name:research")}
    assert "stay in the old domain (111111111111 us-east-1 domain name:team1studio)" in team.effects[0]


def test_a_rename_is_flagged_with_the_role_name_clash(registry: AccountRegistry) -> None:
    plan = plan_of("rename_team", registry)
    assert any("looks like a rename of team1" in note for note in plan.notes)
    [spoke] = plan.spokes or ()
    assert any("fails on the name" in detail for detail in spoke.details)


def test_without_a_registry_spokes_are_not_computed_and_the_plan_says_so() -> None:
    plan = plan_of("add_team_new_application", None)
    assert plan.spokes is None and plan.changed
    assert any("No account registry" in note for note in plan.notes)
    assert "Spokes: not computed" in render_text(plan)


def test_a_first_table_adds_everything(registry: AccountRegistry) -> None:
    new = load_table(BASE.read_text(), "base.yaml")
    plan = plan_routing(None, new, registry)
    assert [(t.name, t.kind) for t in plan.teams] == [("team1", "added"), ("team2", "added")]
    assert len(plan.identity_center) == 2


def test_markdown_and_json_carry_the_same_plan(registry: AccountRegistry) -> None:
    plan = plan_of("remove_team", registry)
    markdown = render_markdown(plan)
    assert markdown.startswith(MARKER + "\n### Routing plan: `base.yaml` → `remove_team.yaml`")
    assert "#### Spoke accounts (StackSets)" in markdown
    assert "- - team2 (removed)" in markdown and "team2--\\*" in markdown
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["changed"] is True
    assert [(t["name"], t["kind"]) for t in data["teams"]] == [("team2", "removed")]
    assert {s["stack_set"] for s in data["spokes"]} == {
        "studio-spoke-access", "studio-team-roles-222222222222"}


# --- the command line --------------------------------------------------------------------------


def test_cli_plan_with_two_files(capsys: pytest.CaptureFixture[str]) -> None:
    new = EDITS / "disable_team.yaml"
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(new),
                 "--accounts", str(FIXTURES / "routing_accounts"), "--format", "json"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert [(f["field"], f["new"]) for f in data["teams"][0]["fields"]] == [
        ("enabled", False), ("disabled_message", "Studio is down for an upgrade until 14:00 UTC.")]


def test_cli_plan_refuses_an_invalid_new_table(capsys: pytest.CaptureFixture[str]) -> None:
    broken = FIXTURES / "routing_broken" / "team_unrouted.yaml"
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(broken)])
    assert code == 1
    assert "no application routes to team 'team3'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_cli_plan_against_a_git_revision(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    shutil.copytree(FIXTURES / "routing_accounts", tmp_path / "accounts")
    shutil.copy(BASE, tmp_path / "routing.yaml")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    shutil.copy(EDITS / "add_team_new_application.yaml", tmp_path / "routing.yaml")
    code = main(["routing", "plan", "--base", "HEAD", "--new", str(tmp_path / "routing.yaml"),
                 "--format", "markdown"])
    out = capsys.readouterr().out
    assert code == 0
    assert "+ team3 (added)" in out and "studio-team-roles-222222222222" in out
    # A file that did not exist at the revision: everything is added.
    shutil.copy(BASE, tmp_path / "next.yaml")
    assert main(["routing", "plan", "--base", "HEAD", "--new", str(tmp_path / "next.yaml")]) == 0
    out = capsys.readouterr().out
    assert "+ team1 (added)" in out and "+ team2 (added)" in out
    new = str(tmp_path / "routing.yaml")
    assert main(["routing", "plan", "--base", "no-such-revision", "--new", new]) == 2
    assert "no-such-revision" in capsys.readouterr().err


def git_repository(path: Path) -> Callable[..., None]:
    def git(*args: str) -> None:
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                       cwd=path, check=True, capture_output=True)

    git("init", "-q")
    return git


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_cli_plan_reads_the_base_account_registry_at_the_revision(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git = git_repository(tmp_path)
    shutil.copytree(FIXTURES / "routing_accounts", tmp_path / "accounts")
    shutil.copy(BASE, tmp_path / "routing.yaml")
    git("add", ".")
    git("commit", "-q", "-m", "base")
    # The pull request registers a spoke and routes a team to it.
    shutil.copy(EDITS / "accounts" / "new_spoke" / "555555555555.yaml", tmp_path / "accounts")
    shutil.copy(EDITS / "add_team_new_spoke_account.yaml", tmp_path / "routing.yaml")

    code = main(["routing", "plan", "--base", "HEAD", "--new", str(tmp_path / "routing.yaml"),
                 "--format", "json"])

    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert {(s["stack_set"], s["action"]) for s in data["spokes"] if s["account"] == "555555555555"} == {
        ("studio-spoke-network", "create"), ("studio-spoke-access", "create"),
        ("studio-team-roles-555555555555", "create"), ("studio-spoke-domain", "create")}
    assert len(data["spokes"]) == 4


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_cli_plan_of_a_first_registry_creates_every_instance(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git = git_repository(tmp_path)
    (tmp_path / "README").write_text("nothing yet\n")
    git("add", ".")
    git("commit", "-q", "-m", "empty")
    shutil.copytree(FIXTURES / "routing_accounts", tmp_path / "accounts")
    shutil.copy(BASE, tmp_path / "routing.yaml")

    assert main(["routing", "plan", "--base", "HEAD", "--new", str(tmp_path / "routing.yaml"),
                 "--format", "json"]) == 0

    spokes = json.loads(capsys.readouterr().out)["spokes"]
    # 4 regions (network + domain each), 2 accounts with teams (access + team roles each).
    assert len(spokes) == 12 and {s["action"] for s in spokes} == {"create"}


def test_cli_plan_with_two_files_takes_the_base_registry_from_old_accounts(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(EDITS / "add_region.yaml"),
                 "--accounts", str(EDITS / "accounts" / "new_region"),
                 "--old-accounts", str(FIXTURES / "routing_accounts")])
    out = capsys.readouterr().out
    assert code == 0
    assert "+ studio-spoke-network 222222222222 eu-west-2 (create)" in out
    assert "+ studio-spoke-domain 222222222222 eu-west-2 (create)" in out
    assert "Spokes: 2 stack instance(s) change." in out


def test_an_update_of_an_untouched_spoke_names_the_parameter_and_why(registry: AccountRegistry) -> None:
    plan = plan_of("account_leaves", registry)
    updates = [s for s in plan.spokes or () if s.action == "update"]
    assert {(s.stack_set, s.account) for s in updates} == {
        ("studio-spoke-access", "111111111111"), ("studio-spoke-access", "222222222222")}
    for update in updates:
        [detail] = update.details
        assert detail.startswith("StackSet parameter MaxSessionDuration: 3600 -> (unset): ")
        assert "no instance overrides it any more (before: 444444444444 eu-central-1)" in detail


CLASH = (FIXTURES / "routing_broken" / "execution_role_not_provisioned.yaml").read_text(encoding="utf-8")


def without_team(text: str, team_id: str) -> str:
    """``text`` without the team block of ``team_id`` and its application binding."""
    block = (f"  - id: {team_id}\n    account: \"111111111111\"\n    region: us-east-1\n"
             f"    domain: {{name: team1studio}}\n    execution_role: studio-{team_id}-execution\n")
    assert text.count(block) == 1
    return text.replace(block, "").replace(f", {team_id}]", "]").replace(f" {team_id},", "")


@pytest.mark.parametrize(("base_without", "added", "index"), [("a1", "a1", 3), ("a-1", "a-1", 2)])
def test_a_team_id_clash_is_reported_on_the_team_the_change_adds(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], base_without: str, added: str,
        index: int) -> None:
    old, new = tmp_path / "base.yaml", tmp_path / "routing.yaml"
    old.write_text(without_team(CLASH, base_without))
    new.write_text(CLASH)
    before = new.read_text()

    code = main(["routing", "plan", "--old", str(old), "--new", str(new),
                 "--accounts", str(FIXTURES / "routing_accounts")])

    captured = capsys.readouterr()
    assert code == 1 and captured.out == ""
    [line] = [line for line in captured.err.splitlines() if "[execution-role-not-provisioned]" in line]
    assert f": error [execution-role-not-provisioned] teams[{index}].execution_role: " in line
    assert f"for team {added!r}: its resource id TeamA1ExecutionRole is also that of team" in line
    assert line.startswith(f"{new}:{59 if index == 3 else 54}:21: ")
    assert new.read_text() == before


def test_the_plan_prints_problems_as_validate_does(capsys: pytest.CaptureFixture[str]) -> None:
    broken = FIXTURES / "routing_broken" / "team_unrouted.yaml"
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(broken),
                 "--accounts", str(FIXTURES / "routing_accounts")])
    err = capsys.readouterr().err
    assert code == 1
    expected = (broken.with_suffix(".expected")).read_text().splitlines()
    validate_lines = [line.replace("team_unrouted.yaml", str(broken), 1) for line in expected]
    assert all(line in err.splitlines() for line in validate_lines)
    assert "error [team-unrouted]" in err and err.rstrip().endswith("1 error, 0 warnings")


def test_the_plan_shows_validate_s_warnings_such_as_capacity_from_the_table(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    new = tmp_path / "routing.yaml"
    new.write_text(BASE.read_text().replace("    execution_role: studio-team1-execution\n",
                                            "    execution_role: studio-team1-execution\n"
                                            "    expected_users: 450\n"))
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(new),
                 "--accounts", str(FIXTURES / "routing_accounts")])
    out = capsys.readouterr().out
    assert code == 0
    section = out.split("Warnings (broker routing validate)\n", 1)[1]
    assert section.startswith(f"  {new}:") and "warning [domain-capacity] teams[0].domain: " in section
    assert "450 user profiles (team1: 450), 90% of its quota of 500" in section


# --- bounds ------------------------------------------------------------------------------------


def aliased_table(copies: int, length: int = 10_000) -> str:
    """BASE with team1's user_settings made of ``copies`` aliases of one long string, three times
    over: a small file whose values expand to 3 * copies * length characters."""
    text = "x" * length
    settings = ("    user_settings:\n"
                f"      SecurityGroups: [&s sg-{text}" + ", *s" * (copies - 1) + "]\n"
                "      JupyterLabAppSettings:\n"
                "        LifecycleConfigArns: [" + ", ".join(["*s"] * copies) + "]\n"
                "        CodeRepositories: [&r {RepositoryUrl: *s}" + ", *r" * (copies - 1) + "]\n")
    anchor = "    execution_role: studio-team1-execution\n"
    return BASE.read_text().replace(anchor, anchor + settings)


@pytest.mark.parametrize("form", ["text", "markdown", "json"])
def test_an_aliased_table_gives_a_bounded_plan_quickly(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], form: str) -> None:
    import time

    new = tmp_path / "routing.yaml"
    new.write_text(aliased_table(500))  # ~17 KB that expand to 15 MB, under the loader's bounds
    started = time.perf_counter()
    code = main(["routing", "plan", "--old", str(BASE), "--new", str(new), "--format", form,
                 "--accounts", str(FIXTURES / "routing_accounts")])
    elapsed = time.perf_counter() - started
    out = capsys.readouterr().out

    assert code == 0
    assert len(out) < 10_000  # the value is cut, not the plan: one field of 2,000 characters
    assert elapsed < 30  # ~1 s here; the unbounded plan printed 16.5 MB
    value = (json.loads(out)["teams"][0]["fields"][0]["new"] if form == "json"
             else next(line for line in out.splitlines() if "settings: {}" in line))
    assert "(left off: the rest of a value longer than 2000 characters)" in value


def test_a_long_plan_is_cut_with_a_line_that_says_what_was_left_off(registry: AccountRegistry) -> None:
    plan = plan_of("add_team_new_spoke_account", registry)
    whole = render_text(plan, limit=0)
    cut = render_text(plan, limit=800)

    assert len(cut) <= 800 + 200  # the header, the truncation line and the summary stay
    lines = cut.splitlines()
    assert lines[0] == whole.splitlines()[0] and lines[-1] == whole.splitlines()[-1]
    [note] = [line for line in lines if line.startswith("... plan truncated at")]
    kept = lines.index(note) - 1
    left = len(whole.splitlines()) - 3 - kept
    assert f"{left} more line(s)" in note and "--max-characters 0" in note
    assert whole.startswith("\n".join(lines[:kept + 1]))
    markdown = render_markdown(plan, limit=800)
    assert len(markdown) <= 1000 and "... plan truncated at" in markdown
    assert render_markdown(plan, limit=0).count("\n") > markdown.count("\n")


def test_json_plans_stay_valid_when_cut(registry: AccountRegistry) -> None:
    from broker.ops.routing_plan import bounded_json

    plan = plan_of("account_leaves", registry)
    data = json.loads(bounded_json(plan, limit=2500))
    assert len(bounded_json(plan, limit=2500)) <= 2500 + 200
    assert data["left_off"] and sum(data["left_off"].values()) > 0
    assert json.loads(bounded_json(plan, limit=0)).get("left_off") is None


def test_the_plan_says_when_a_new_team_is_live(registry: AccountRegistry) -> None:
    old = load_table(BASE.read_text(), "base.yaml")
    new = load_table((EDITS / "add_team_new_application.yaml").read_text(), "new.yaml")

    def live(files: list[str] | None) -> str:
        notes = plan_routing(old, new, registry, changed_files=files).notes
        [note] = [n for n in notes if n.startswith("When it is live: merge -> CI")]
        assert "-> `broker rollout apply` (2 stack instance(s) above, spokes first) -> the hub" in note
        return note

    at_once = live(["routing.yaml"])
    assert "DeploymentPreference=AllAtOnce" in at_once and "as soon as the deploy ends" in at_once
    for files in (["routing.yaml", "broker/login.py"], None):
        canary = live(files)
        assert "DeploymentPreference=Canary10Percent5Minutes" in canary
        assert "which does not know team3: those sign-ins get 404 'unknown team'" in canary


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_validate_with_a_base_reports_a_clash_on_the_added_team(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    git = git_repository(tmp_path)
    table = tmp_path / "routing.yaml"
    table.write_text(without_team(CLASH, "a-1"))  # a1 is there before the change
    git("add", ".")
    git("commit", "-q", "-m", "base")
    table.write_text(CLASH)  # the change adds a-1, earlier in the file
    accounts = ["--accounts", str(FIXTURES / "routing_accounts")]

    assert main(["routing", "validate", str(table), *accounts, "--base", "HEAD"]) == 1
    with_base = capsys.readouterr().out
    assert "teams[2].execution_role: " in with_base and "for team 'a-1'" in with_base
    assert main(["routing", "validate", str(table), *accounts]) == 1
    without = capsys.readouterr().out
    assert "teams[3].execution_role: " in without and "for team 'a1'" in without


def test_a_new_membership_application_gets_its_identity_center_step_without_a_team_attribute() -> None:
    base = BASE.read_text()
    first_app = base.split("applications:\n", 1)[1].split("  - name: studio-team2", 1)[0]
    studio = (first_app.replace("studio-team1", "sagemaker-studio").replace("/AAAA", "/CCCC")
              .replace("    teams: [team1]\n", "    teams_from: membership\n"))
    head = (base.replace("teams:\n  - id: team1\n", studio + "teams:\n  - id: team1\n    groups: [g1]\n")
            + "identity_store: {id: d-1234567890, region: us-east-1, external_id: ids-1,\n"
            "  role_arn: 'arn:aws:iam::999999999999:role/StudioBrokerIdentityStoreReader'}\n")
    plan = plan_routing(load_table(base, "base.yaml"), load_table(head, "head.yaml"), None,
                        old_label="base.yaml", new_label="head.yaml", changed_files=["routing.yaml"])
    assert [(a.name, a.kind) for a in plan.applications] == [("sagemaker-studio", "added")]
    [step] = plan.identity_center
    assert "'sagemaker-studio'" in step and "no team attribute" in step and "teamid ->" not in step


def test_a_changed_spoke_template_updates_every_instance_and_says_so(
        tmp_path: Path, registry: AccountRegistry) -> None:
    from broker.ops.stacksets import DEFAULT_TEMPLATES

    head = tmp_path / "stacksets"
    shutil.copytree(DEFAULT_TEMPLATES, head)
    (head / "network.yaml").write_text((head / "network.yaml").read_text() + "# changed\n")
    table = load_table(BASE.read_text(), "base.yaml")

    plan = plan_routing(table, table, registry, templates=head, old_templates=DEFAULT_TEMPLATES)

    assert {(s.stack_set, s.account, s.region, s.action) for s in plan.spokes or ()} == {
        ("studio-spoke-network", "111111111111", "us-east-1", "update"),
        ("studio-spoke-network", "111111111111", "us-west-2", "update"),
        ("studio-spoke-network", "222222222222", "eu-west-1", "update"),
        ("studio-spoke-network", "444444444444", "eu-central-1", "update")}
    assert all(s.details == ("template changed (stacksets/network.yaml): CloudFormation updates every "
                             "instance",) for s in plan.spokes or ())
