"""routing.yaml on the operator path: YAML, schema, semantic checks, and the typed objects they give."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from broker.config import DomainRef, RoutingTable, SpokeAccess
from broker.exceptions import ConfigurationError
from broker.ops import routing_source as routing
from broker.ops.routing_source import load_routing_table, parse_routing_table

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "routing"
VALID = (FIXTURES / "valid.yaml").read_text(encoding="utf-8")
EXPIRED_PEM = (FIXTURES / "expired.pem").read_text(encoding="utf-8")
OTHER_PEM = (FIXTURES / "other.pem").read_text(encoding="utf-8")
FIRST_PEM_LINES = VALID.split("      - |\n", 1)[1].split("    teams:", 1)[0]


def edited(*replacements: tuple[str, str]) -> str:
    text = VALID
    for old, new in replacements:
        assert text.count(old) >= 1, old
        text = text.replace(old, new, 1)
    return text


def indented_pem(pem: str) -> str:
    return "".join(f"        {line}\n" for line in pem.strip().splitlines())


def problems(text: str, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        parse_routing_table(text, "routing.yaml", **kwargs)
    assert str(caught.value) == "\n".join(caught.value.problems)
    return caught.value.problems


# --- valid tables ------------------------------------------------------------------------------


def test_sample_routing_yaml_loads_with_typed_values() -> None:
    table = load_routing_table(REPO / "routing.yaml")
    assert isinstance(table, RoutingTable)
    sp = table.service_provider
    assert (sp.entity_id, sp.acs_url) == (
        "urn:example:studio-broker", "https://broker.example.com/prod/saml/acs")
    assert (sp.clock_skew_seconds, sp.max_assertion_age_seconds, sp.max_body_bytes) == (
        60, 300, 262144)
    assert (sp.attributes.user, sp.attributes.team) == ("userid", "teamid")

    assert sorted(table.teams) == ["team1", "team2"]
    team1, team2 = table.teams["team1"], table.teams["team2"]
    assert (team1.account_id, team1.region) == ("111111111111", "us-east-1")
    assert (team2.account_id, team2.region) == ("222222222222", "eu-west-1")
    assert team1.domain == DomainRef(domain_id="d-team1studio")
    assert team1.execution_role_arn == "arn:aws:iam::111111111111:role/studio-team1-execution"
    assert team2.execution_role_arn == "arn:aws:iam::222222222222:role/studio-team2-execution"
    assert dict(team1.tags) == {"Team": "team1", "CostCenter": "4711"}
    assert dict(team2.tags) == {"Team": "team2", "CostCenter": "4712", "Project": "churn-model"}
    assert dict(team1.user_settings) == {"DefaultLandingUri": "studio::"}
    assert team1.spoke_access == SpokeAccess("StudioBrokerAccess", "studio-broker-7f3c", 3600)
    assert team2.broker_role_arn == "arn:aws:iam::222222222222:role/StudioBrokerAccess"
    assert team2.session_expiration_seconds == 28800 and team2.presigned_url_expiry_seconds == 60

    assert len(table.applications) == 2
    for name, team in (("studio-team1", "team1"), ("studio-team2", "team2")):
        (app,) = [a for a in table.applications.values() if a.name == name]
        assert table.applications[app.issuer] is app
        assert app.teams == frozenset({team})
        assert len(app.certificates) == 1
        assert app.certificates[0].startswith("-----BEGIN CERTIFICATE-----\nMII")
        assert app.certificates[0].endswith("-----END CERTIFICATE-----\n")


def test_a_table_in_govcloud_builds_every_role_arn_in_aws_us_gov() -> None:
    text = VALID.replace("region: us-east-1", "region: us-gov-west-1").replace(
        "region: eu-west-1", "region: us-gov-east-1").replace("arn:aws:iam::", "arn:aws-us-gov:iam::")
    table = parse_routing_table(text, "valid.yaml")
    for team in table.teams.values():
        assert team.region.startswith("us-gov-")
        assert team.broker_role_arn.startswith(f"arn:aws-us-gov:iam::{team.account_id}:role/"), team.id
        assert team.execution_role_arn.startswith(f"arn:aws-us-gov:iam::{team.account_id}:role/"), team.id


def test_fixture_table_merges_overrides_and_keeps_optional_fields() -> None:
    table = parse_routing_table(VALID, "valid.yaml")
    assert table.source == "valid.yaml"
    assert table.service_provider.clock_skew_seconds == 30
    assert table.service_provider.max_body_bytes == 256 * 1024  # default
    assert (table.service_provider.attributes.user, table.service_provider.attributes.team) == (
        "uid", "team")
    team2, team3 = table.team("team2"), table.team("team-3")
    assert team2 is not None and team3 is not None
    assert team2.domain == DomainRef(name="team2-studio")
    assert team2.execution_role_arn == "arn:aws:iam::222222222222:role/path/team2-execution"
    assert team2.spoke_access == SpokeAccess("StudioBrokerAccess", "fixture-external-id", 3600)
    assert team3.spoke_access == SpokeAccess("CustomBrokerAccess", "fixture-external-id", 900)
    assert team3.broker_role_arn == "arn:aws:iam::222222222222:role/CustomBrokerAccess"
    assert (team3.landing_uri, team3.space_name) == (
        "app:JupyterLab:lab/tree/README.md", "shared-space")
    assert (team3.enabled, team3.disabled_message) == (False, "Maintenance until Monday.")
    assert (team3.session_expiration_seconds, team3.presigned_url_expiry_seconds) == (1800, 300)
    assert dict(team3.tags) == {"Team": "team-3"}
    assert table.team("team9") is None
    app = table.applications["https://portal.sso.us-east-1.amazonaws.com/saml/assertion/two"]
    assert app is not None and app.teams == frozenset({"team2", "team-3"})


def test_loaded_objects_are_immutable() -> None:
    table = parse_routing_table(VALID, "valid.yaml")
    team1 = table.teams["team1"]
    with pytest.raises(TypeError):
        table.teams["x"] = team1  # type: ignore[index]
    with pytest.raises(TypeError):
        team1.tags["Team"] = "other"  # type: ignore[index]
    with pytest.raises(TypeError):
        team1.user_settings["SecurityGroups"] = []  # type: ignore[index]
    assert team1.user_settings["SecurityGroups"] == ("sg-0123456789abcdef0",)
    with pytest.raises(dataclasses.FrozenInstanceError):
        team1.region = "us-west-2"  # type: ignore[misc]


def test_team_tag_equal_to_the_id_is_accepted() -> None:
    table = parse_routing_table(
        edited(('    tags: {CostCenter: "4711"}', '    tags: {CostCenter: "4711", Team: team1}')),
        "routing.yaml")
    assert dict(table.teams["team1"].tags) == {"Team": "team1", "CostCenter": "4711"}


def test_two_certificates_during_a_rotation() -> None:
    text = edited(("    teams: [team1]", "      - |\n" + indented_pem(OTHER_PEM) + "    teams: [team1]"))
    app = parse_routing_table(text, "routing.yaml").applications[
        "https://portal.sso.us-east-1.amazonaws.com/saml/assertion/one"]
    assert len(app.certificates) == 2 and app.certificates[1] == OTHER_PEM.strip() + "\n"


def test_shared_applications_allows_two_applications_for_one_team() -> None:
    text = edited(
        ("    teams: [team1]", "    teams: [team1, team2]"),
        ("    domain: {name: team2-studio}\n",
         "    domain: {name: team2-studio}\n    shared_applications: true\n"),
    )
    table = parse_routing_table(text, "routing.yaml")
    assert sum("team2" in app.teams for app in table.applications.values()) == 2


# --- broken tables: every message exact --------------------------------------------------------

BROKEN: list[tuple[str, list[tuple[str, str]], list[str]]] = [
    ("wrong type", [("  clock_skew_seconds: 30", "  clock_skew_seconds: soon")], [
        "routing.yaml:7:23: service_provider.clock_skew_seconds: "
        "expected an integer, got a string ('soon')",
    ]),
    ("unknown key with typo", [("    region: eu-west-1\n    domain: {name",
                                "    regoin: eu-west-1\n    domain: {name")], [
        "routing.yaml:50:5: teams[1]: missing required field 'region'",
        "routing.yaml:52:5: teams[1].regoin: unknown field 'regoin' (did you mean 'region'?)",
    ]),
    ("missing required", [("  external_id: fixture-external-id\n",
                           "  role_name: StudioBrokerAccess\n")], [
        "routing.yaml:10:3: spoke_access: missing required field 'external_id'",
    ]),
    ("out of range", [("    presigned_url_expiry_seconds: 300",
                       "    presigned_url_expiry_seconds: 301")], [
        "routing.yaml:62:35: teams[2].presigned_url_expiry_seconds: "
        "301 is out of range: must be at most 300",
    ]),
    ("role chaining cap", [("session_duration_seconds: 900}", "session_duration_seconds: 7200}")], [
        "routing.yaml:66:77: teams[2].spoke_access.session_duration_seconds: 7200 is out of "
        "range: must be at most 3600 (the broker assumes spoke roles from its Lambda role: "
        "role chaining caps sessions at 3600 s)",
    ]),
    ("bad region pattern", [("    region: us-east-1", "    region: us-east")], [
        "routing.yaml:43:13: teams[0].region: 'us-east' does not match "
        "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$ (an AWS region code such as us-east-1)",
    ]),
    ("region read as boolean", [("    region: us-east-1", "    region: no")], [
        'routing.yaml:43:13: teams[0].region: expected a string, got a boolean (no); '
        'write it in quotes: "no" (an AWS region code such as us-east-1)',
    ]),
    ("duplicate yaml key", [("    region: us-east-1\n",
                             "    region: us-east-1\n    region: us-west-2\n")], [
        "routing.yaml:44:5: teams[0].region: duplicate key 'region' (first at line 43)",
    ]),
    ("duplicate team id", [("  - id: team-3", "  - id: team2")], [
        "routing.yaml:39:20: applications[1].teams[1]: unknown team 'team-3' "
        "(did you mean 'team2'?)",
        "routing.yaml:55:9: teams[2].id: duplicate team id 'team2' (first at teams[1], line 50)",
    ]),
    ("unbound team", [("    teams: [team2, team-3]", "    teams: [team2]")], [
        "routing.yaml:55:9: teams[2].id: no application routes to team 'team-3': "
        "add it to an application's teams, or remove the team",
    ]),
    ("unknown team in application", [("    teams: [team1]", "    teams: [team1, qa]")], [
        "routing.yaml:25:20: applications[0].teams[1]: unknown team 'qa' (add it under teams)",
    ]),
    ("team bound twice", [("    teams: [team1]", "    teams: [team1, team2]")], [
        "routing.yaml:39:13: applications[1].teams[0]: team 'team2' is already bound to "
        "application 'app-one' (applications[0]); set shared_applications: true on the team "
        "if both applications may sign in to it",
    ]),
    ("duplicate issuer", [("saml/assertion/two", "saml/assertion/one")], [
        "routing.yaml:27:13: applications[1].issuer: duplicate application issuer "
        "'https://portal.sso.us-east-1.amazonaws.com/saml/assertion/one' "
        "(first at applications[0], line 13)",
    ]),
    ("duplicate application name", [("  - name: app-two", "  - name: app-one")], [
        "routing.yaml:26:11: applications[1].name: duplicate application name 'app-one' "
        "(first at applications[0], line 12)",
    ]),
    ("account not quoted", [('    account: "111111111111"', "    account: 111111111111")], [
        'routing.yaml:42:14: teams[0].account: expected a string, got a number (111111111111); '
        'write it in quotes: "111111111111" (a 12-digit AWS account id)',
    ]),
    ("certificate not PEM", [("        HDTxe+lEdRowohA1IEkhknTvz0wEH48/J2CaQ9Z+\n",
                              "        HDTxe+lEdRowohA1IEkhknTvz0wEH48/J2CaQ9Z\n")], [
        "routing.yaml:15:9: applications[0].certificates[0]: not a valid PEM X.509 certificate "
        "(paste the PEM text with its BEGIN/END CERTIFICATE lines as a block scalar (|))",
    ]),
    ("two PEMs in one entry", [("    teams: [team1]",
                                indented_pem(OTHER_PEM) + "    teams: [team1]")], [
        "routing.yaml:15:9: applications[0].certificates[0]: expected exactly one PEM "
        "certificate (paste the PEM text with its BEGIN/END CERTIFICATE lines as a block "
        "scalar (|))",
    ]),
    ("expired certificate", [(FIRST_PEM_LINES, indented_pem(EXPIRED_PEM))], [
        "routing.yaml:15:9: applications[0].certificates[0]: certificate CN=expired.example "
        "expired on 2001-01-01 00:00 UTC; paste the application's current certificate from "
        "Identity Center",
    ]),
    ("Team tag mismatch", [('    tags: {CostCenter: "4711"}',
                            '    tags: {CostCenter: "4711", Team: team2}')], [
        "routing.yaml:46:38: teams[0].tags.Team: the Team tag is always the team id 'team1', "
        "not 'team2' (remove it: the broker adds it)",
    ]),
    ("team tag in other case", [('    tags: {CostCenter: "4711"}', '    tags: {team: team1}')], [
        "routing.yaml:46:12: teams[0].tags.team: tag key 'team' differs from the reserved "
        "'Team' only in case",
    ]),
    ("User tag is reserved", [('    tags: {CostCenter: "4711"}', '    tags: {user: someone}')], [
        "routing.yaml:46:12: teams[0].tags.user: tag key 'user' is reserved: the broker tags "
        "each profile User=<the person>",
    ]),
    ("ExecutionRole in user_settings", [("      SecurityGroups: [sg-0123456789abcdef0]",
                                         "      ExecutionRole: arn:aws:iam::111111111111:role/x")], [
        "routing.yaml:49:7: teams[0].user_settings.ExecutionRole: ExecutionRole is set from the "
        "team's execution_role; remove it here",
    ]),
    ("role in another account", [("arn:aws:iam::222222222222:role/path/team2-execution",
                                  "arn:aws:iam::333333333333:role/team2-execution")], [
        "routing.yaml:54:21: teams[1].execution_role: the execution role is in account "
        "333333333333, not the team's account 222222222222 (a team's profiles can only use a "
        "role of its own account)",
    ]),
    ("role in another partition", [("arn:aws:iam::222222222222:role/path/",
                                    "arn:aws-cn:iam::222222222222:role/path/")], [
        "routing.yaml:54:21: teams[1].execution_role: the role's partition aws-cn does not "
        "match region eu-west-1 (partition aws)",
    ]),
    ("invalid YAML syntax", [("    region: us-east-1\n", "    region: [us-east-1\n")], [
        "routing.yaml:44:11: invalid YAML: did not find expected ',' or ']'",
    ]),
    ("domain with id and name", [("    domain: {id: d-team1studio}",
                                  "    domain: {id: d-team1studio, name: x}")], [
        "routing.yaml:44:13: teams[0].domain: has 2 fields: must have at most 1 "
        "(give the SageMaker domain as {id: d-...} or {name: ...})",
    ]),
    ("plain http ACS", [("https://broker.example.com/prod", "http://broker.example.com/prod")], [
        "routing.yaml:6:12: service_provider.acs_url: 'http://broker.example.com/prod/saml/acs' "
        "does not match ^(https://[A-Za-z0-9.-]+(:[0-9]{1,5})?|http://(localhost|127\\.0\\.0\\.1)"
        "(:[0-9]{1,5})?)(/[^\\s?#]*)?$ (the exact public https URL of POST /saml/acs, stage "
        "included, no query; plain http only for localhost)",
    ]),
    ("tag key aws:", [('{CostCenter: "4711"}', '{"aws:cost": "4711"}')], [
        'routing.yaml:46:12: teams[0].tags["aws:cost"]: key \'aws:cost\' is not allowed (tag '
        "keys: 1-128 letters, digits, spaces and _.:/=+@-, not starting with aws:)",
    ]),
    ("user_settings key not PascalCase", [("      DefaultLandingUri", "      defaultLandingUri")], [
        "routing.yaml:48:7: teams[0].user_settings.defaultLandingUri: key 'defaultLandingUri' is "
        "not allowed (UserSettings fields of CreateUserProfile are written in PascalCase, e.g. "
        "DefaultLandingUri)",
    ]),
    ("same attribute names", [("{user: uid, team: team}", "{user: team, team: team}")], [
        "routing.yaml:8:15: service_provider.attributes: the user and team attributes must have "
        "different names",
    ]),
    ("wrong version", [("version: 1", "version: 2")], [
        "routing.yaml:3:10: version: must be 1, got 2 (the only routing table format is version 1)",
    ]),
    ("every stage at once", [
        ("version: 1", "version: 1\nversion: 1"),
        ("    region: us-east-1", "    region: us-east"),
        ("    teams: [team1]", "    teams: [team1, qa]"),
    ], [
        "routing.yaml:4:1: version: duplicate key 'version' (first at line 3)",
        "routing.yaml:26:20: applications[0].teams[1]: unknown team 'qa' (add it under teams)",
        "routing.yaml:44:13: teams[0].region: 'us-east' does not match "
        "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$ (an AWS region code such as us-east-1)",
    ]),
]


@pytest.mark.parametrize(
    ("replacements", "expected"),
    [pytest.param(r, e, id=name) for name, r, e in BROKEN],
)
def test_broken_table_is_refused_with_exact_messages(
    replacements: list[tuple[str, str]], expected: list[str]
) -> None:
    assert problems(edited(*replacements)) == expected


def test_expiry_is_judged_at_the_given_time() -> None:
    later = datetime(2126, 1, 1, tzinfo=UTC)
    assert problems(VALID, now=later) == [
        "routing.yaml:15:9: applications[0].certificates[0]: certificate CN=fixture-a.example "
        "expired on 2126-01-01 00:00 UTC; paste the application's current certificate from "
        "Identity Center",
        "routing.yaml:29:9: applications[1].certificates[0]: certificate CN=fixture-b.example "
        "expired on 2126-01-01 00:00 UTC; paste the application's current certificate from "
        "Identity Center",
    ]
    parse_routing_table(VALID, "routing.yaml", now=datetime(2125, 12, 31, tzinfo=UTC))


def test_empty_table_is_refused() -> None:
    assert problems("# nothing yet\n") == ["routing.yaml:1:1: the routing table is empty"]


def test_top_level_list_is_refused() -> None:
    assert problems("- a\n") == ["routing.yaml:1:1: expected a mapping, got a list"]


def test_unreadable_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_routing_table(tmp_path / "missing.yaml")
    assert caught.value.problems[0].startswith(
        f"{tmp_path / 'missing.yaml'}:1:1: cannot read the file: ")


# --- the schema itself -------------------------------------------------------------------------


def _object_schemas(node: Any, where: str = "#") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        if "properties" in node:
            found.append((where, node))
        for key, value in node.items():
            found += _object_schemas(value, f"{where}/{key}")
    return found


def test_schema_is_valid_draft_2020_12_and_closed() -> None:
    schema = routing.routing_schema()
    routing.routing_validator().check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    objects = _object_schemas(schema)
    assert len(objects) >= 7
    for where, node in objects:
        assert node.get("additionalProperties") is False, where


def test_schema_and_validator_are_built_once() -> None:
    assert routing.routing_validator() is routing.routing_validator()
    assert routing.routing_schema() is routing.routing_schema()


# --- scale -------------------------------------------------------------------------------------


def generated_table(teams: int) -> str:
    pem = indented_pem(OTHER_PEM)
    head = VALID.split("applications:\n", 1)[0] + "applications:\n"
    apps = "".join(
        f"  - name: app{i}\n    issuer: https://idp.example.com/app{i}\n"
        f"    certificates:\n      - |\n{pem}    teams: [t{i}]\n"
        for i in range(teams)
    )
    rows = "".join(
        f'  - id: t{i}\n    account: "{i:012d}"\n    region: us-east-1\n'
        f"    domain: {{id: d-t{i}}}\n    execution_role: exec\n"
        f'    tags: {{CostCenter: "{i}"}}\n'
        for i in range(teams)
    )
    return head + apps + "teams:\n" + rows


def test_problem_in_a_large_table_is_located_exactly() -> None:
    text = generated_table(300)
    last = text.rindex("    region: us-east-1\n")
    text = text[:last] + "    region: us-east\n" + text[last + len("    region: us-east-1\n"):]
    line = text[:last].count("\n") + 1
    assert problems(text) == [
        f"routing.yaml:{line}:13: teams[299].region: 'us-east' does not match "
        "^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$ (an AWS region code such as us-east-1)"
    ]


def test_generated_table_of_2000_teams_loads() -> None:
    table = parse_routing_table(generated_table(2000), "generated.yaml")
    assert len(table.teams) == 2000 and len(table.applications) == 2000
    assert table.teams["t1999"].account_id == "000000001999"
    assert table.teams["t1999"].execution_role_arn == "arn:aws:iam::000000001999:role/exec"
    assert table.applications["https://idp.example.com/app7"].teams == {"t7"}


