"""checkov on what CloudFormation receives: the SAM-transformed hub, a generated team-roles template
and the spoke access roles (stacksets/broker-access.yaml).

Every finding is either fixed in the template or waived, with a reason, in
``checkov_waivers.yaml``; a waiver that no longer matches a finding fails too.

checkov cannot share the project's virtualenv (it pins boto3 exactly, see
``checkov-requirements.txt``): it runs as a subprocess from ``CHECKOV`` (an
executable), ``.venv-checkov/bin/checkov`` or ``checkov`` on PATH, offline
(``--skip-download``, ``BC_SKIP_MAPPING``). Without it these tests are skipped,
except under ``make test`` (CI), which installs it and makes its absence a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from broker.ops.team_roles import team_roles_template

from .sam import transform_file
from .test_templates import teams

HERE = Path(__file__).parent
REPO = HERE.parent.parent
TEMPLATES = {"hub": "hub.json", "team-roles": "team-roles-111111111111.yaml",
             "broker-access": "broker-access.yaml"}

pytestmark = pytest.mark.slow  # one checkov run for the module: about 6 s on this machine


def checkov_executable() -> str | None:
    candidates = [os.environ.get("CHECKOV"), str(REPO / ".venv-checkov/bin/checkov"), shutil.which("checkov")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def pinned_version() -> str:
    text = (HERE / "checkov-requirements.txt").read_text()
    match = re.search(r"^checkov==(\S+)$", text, re.MULTILINE)
    assert match, "checkov-requirements.txt pins checkov==<version>"
    return match.group(1)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    checkov = checkov_executable()
    if checkov is None:
        # `make test` (and so CI) installs checkov and sets this: there a missing checkov is a failure.
        if os.environ.get("BROKER_REQUIRE_CHECKOV") == "1":
            pytest.fail("checkov is not installed: run `make checkov`")
        pytest.skip("checkov is not installed: `make checkov` (tests/templates/checkov-requirements.txt)")
    folder = tmp_path_factory.mktemp("checkov")
    (folder / TEMPLATES["hub"]).write_text(json.dumps(transform_file(REPO / "template.yaml"), indent=1))
    (folder / TEMPLATES["team-roles"]).write_text(team_roles_template("111111111111", teams()))
    # Both of its roles (the reconcile role exists only under a Condition; checkov scans it anyway).
    shutil.copy(REPO / "stacksets" / "broker-access.yaml", folder / TEMPLATES["broker-access"])
    files = [arg for name in TEMPLATES.values() for arg in ("-f", name)]
    run = subprocess.run(
        [checkov, *files, "--framework", "cloudformation", "-o", "json", "--skip-download"],
        cwd=folder, capture_output=True, text=True, timeout=120,
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"})
    assert run.returncode in (0, 1), run.stderr  # 1: some check failed
    result = json.loads(run.stdout)
    return result[0] if isinstance(result, list) else result


def findings(report: dict[str, Any]) -> set[tuple[str, str, str]]:
    by_file = {name: template for template, name in TEMPLATES.items()}
    return {(check["check_id"], by_file[Path(check["file_path"]).name], check["resource"])
            for check in report["results"]["failed_checks"]}


def waivers() -> list[dict[str, str]]:
    return yaml.safe_load((HERE / "checkov_waivers.yaml").read_text())["waivers"]


def test_checkov_is_the_pinned_version_and_read_both_templates(report: dict[str, Any]) -> None:
    summary = report["summary"]
    assert summary["checkov_version"] == pinned_version()
    assert summary["parsing_errors"] == 0
    scanned = {Path(check["file_path"]).name
               for kind in ("passed_checks", "failed_checks") for check in report["results"].get(kind, [])}
    assert scanned == set(TEMPLATES.values())


def test_every_checkov_finding_is_fixed_or_waived(report: dict[str, Any]) -> None:
    waived = {(w["check"], w["template"], w["resource"]) for w in waivers()}
    assert sorted(findings(report) - waived) == []


def test_no_waiver_is_stale(report: dict[str, Any]) -> None:
    waived = {(w["check"], w["template"], w["resource"]) for w in waivers()}
    assert sorted(waived - findings(report)) == []


def test_every_waiver_is_reasoned_and_listed_once() -> None:
    keys = [(w["check"], w["template"], w["resource"]) for w in waivers()]
    assert len(keys) == len(set(keys))
    assert all(w["template"] in TEMPLATES and len(w.get("reason", "").split()) >= 10 for w in waivers())
