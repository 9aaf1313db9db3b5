"""A team member's Studio calls against the generated team execution roles, as deployed.

Two teams share one account and one domain here (team1 and data-eng in
111111111111, d-team1studio): the worst case for isolation. Every call Studio
makes for a member on their own team's resources must be allowed, whether or
not the domain's tag propagation puts the Team tag into the request; the same
calls on another team's resources, with another team's tag, and the calls a
member must never make, must be denied.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from broker.config import RoutingTable
from broker.ops.routing_source import load_routing_table

from .calls import tags_context, with_context
from .deployed import REPO, team_roles
from .evaluator import Request, evaluate
from .studio import Studio

ACCOUNT, REGION, DOMAIN = "111111111111", "us-east-1", "d-team1studio"


def two_teams_in_one_account() -> RoutingTable:
    seed = load_routing_table(REPO / "routing.yaml")
    team1 = seed.teams["team1"]
    data_eng = replace(team1, id="data-eng", tags={"Team": "data-eng"},
                       execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/studio-data-eng-execution")
    return replace(seed, teams={**seed.teams, "data-eng": data_eng})


ROLES = team_roles(two_teams_in_one_account(), ACCOUNT)


def studio(team: str, user: str = "alice@example.com", *, propagated: bool = False) -> Studio:
    return Studio(ROLES[team], user, ACCOUNT, REGION, DOMAIN, team_tag_in_requests=propagated)


ROLE_BY_ARN = {role.arn: role for role in ROLES.values()}


def allowed(request: Request) -> bool:
    return evaluate(request, ROLE_BY_ARN[request.principal].identity).allowed


def call_allowed(requests: list[Request]) -> bool:
    """A call is allowed when its action and each dependent action (a create's AddTags) are."""
    return all(allowed(r) for r in requests)


def test_each_team_has_its_own_role_tagged_with_its_team() -> None:
    assert sorted(ROLES) == ["data-eng", "team1"]
    assert ROLES["team1"].arn == f"arn:aws:iam::{ACCOUNT}:role/studio-team1-execution"


@pytest.mark.parametrize("propagated", [False, True], ids=["studio-tags-only", "team-tag-propagated"])
@pytest.mark.parametrize("team", ["team1", "data-eng"])
def test_every_call_studio_makes_on_the_members_own_resources_is_allowed(
    team: str, propagated: bool
) -> None:
    steps = studio(team, propagated=propagated).open_studio()
    refused = {step: [r.action for r in requests if not allowed(r)] for step, requests in steps.items()}
    # every request: a step's dependent AddTags as much as its create
    assert {step: actions for step, actions in refused.items() if actions} == {}


def test_a_colleagues_space_of_the_same_team_is_usable() -> None:
    """Team-level isolation: a shared space of a colleague may be started and stopped."""
    colleague = studio("team1", "bob").profile
    me = studio("team1")
    on_space = me.existing(me.studio_tags(colleague)) | me.ownership(colleague, "Shared")
    assert call_allowed(me.created("CreateApp", me.app_arn(), me.studio_tags(colleague),
                                   me.ownership(colleague, "Shared")))
    assert allowed(me.request("DeleteApp", me.app_arn(), on_space))


def _other_teams(propagated: bool) -> list[list[Request]]:
    """The calls a team1 member's Studio would make to act on data-eng's space in the same domain."""
    me, them = studio("team1", propagated=propagated), studio("data-eng", "carol", propagated=propagated)
    owner, space, app = them.profile, me.space_arn("their-space"), me.app_arn("their-space")
    theirs = me.existing(them.studio_tags()) | me.ownership(owner, "Shared")
    return [
        me.created("CreateApp", app, me.studio_tags(owner), me.ownership(owner, "Shared")),
        me.created("CreateSpace", me.space_arn("for-them"), me.studio_tags(owner), me.ownership(owner)),
        [me.request("UpdateSpace", space, theirs)],
        [me.request("DeleteSpace", space, theirs)],
        [me.request("DeleteApp", app, theirs)],
        [me.request("AddTags", space, theirs | tags_context("RequestTag", {"Note": "mine now"}))],
        [me.request("DeleteTags", space, theirs | {"aws:TagKeys": ("Note",)})],
    ]


@pytest.mark.parametrize("propagated", [False, True], ids=["studio-tags-only", "team-tag-propagated"])
def test_another_teams_spaces_and_apps_are_denied(propagated: bool) -> None:
    assert [call[0].action for call in _other_teams(propagated) if call_allowed(call)] == []


def test_a_create_with_another_teams_tag_is_denied_even_for_an_own_space() -> None:
    me = studio("team1")
    tags = me.studio_tags() | {"Team": "data-eng"}
    for request in me.created("CreateSpace", me.space_arn(), tags, me.ownership()):
        assert not allowed(request), request.action
    for request in me.created("CreateTrainingJob", me.arn("training-job/j"), {"Team": "data-eng"}, {}):
        assert not allowed(request), request.action


def test_retagging_an_own_space_to_another_team_is_denied() -> None:
    me = studio("team1", propagated=True)
    own = me.existing(me.studio_tags()) | me.ownership()
    retag = tags_context("RequestTag", {"Team": "data-eng"})
    assert not allowed(me.request("AddTags", me.space_arn(), own | retag))
    assert allowed(me.request("AddTags", me.space_arn(), own | tags_context("RequestTag", {"Note": "x"})))


@pytest.mark.parametrize("propagated", [False, True], ids=["studio-tags-only", "team-tag-propagated"])
def test_the_team_tag_cannot_be_removed(propagated: bool) -> None:
    me = studio("team1", propagated=propagated)
    own = me.existing(me.studio_tags() | {"Team": "team1"}) | me.ownership()
    assert not allowed(me.request("DeleteTags", me.space_arn(), own | {"aws:TagKeys": ("Team",)}))
    assert not allowed(me.request("DeleteTags", me.space_arn(), own | {"aws:TagKeys": ("Note", "Team")}))


def test_a_space_without_an_owner_or_a_team_tag_cannot_be_created() -> None:
    me = studio("team1")
    assert not call_allowed(me.created("CreateSpace", me.space_arn(), me.studio_tags(), {}))


@pytest.mark.parametrize("action", ["CreatePresignedDomainUrl", "UpdateUserProfile", "DeleteUserProfile",
                                    "CreateUserProfile", "UpdateDomain", "DeleteDomain"])
def test_members_never_presign_or_administer_profiles_and_domains(action: str) -> None:
    me = studio("team1", propagated=True)
    own_profile = me.existing({"Team": "team1", "User": me.user})
    tagged = own_profile | tags_context("RequestTag", {"Team": "team1"})
    assert not allowed(me.request(action, me.profile_arn(), tagged))


def test_a_profile_level_app_is_allowed_only_in_the_members_team() -> None:
    me = studio("team1")
    app = me.arn(f"app/{DOMAIN}/{me.profile}/JupyterServer/default")
    assert call_allowed(me.created("CreateApp", app, me.studio_tags(), {}))
    assert allowed(me.request("DeleteApp", app))
    theirs = me.arn(f"app/{DOMAIN}/{studio('data-eng', 'carol').profile}/JupyterServer/default")
    assert not call_allowed(me.created("CreateApp", theirs, me.studio_tags(), {}))
    assert not allowed(me.request("DeleteApp", theirs))
    # an app in a space (it has an owner) is never judged by its ARN's middle part
    in_space = with_context(me.request("DeleteApp", app), me.ownership(studio("data-eng", "carol").profile))
    assert not allowed(in_space)
