"""The calls SageMaker Studio makes for a team member, as authorization requests of the team's role.

Studio runs as the profile's execution role (the team's role; its ``Team``
tag is a principal tag of every session) and, with the domain's
``ExecutionRoleIdentityConfig: USER_PROFILE_NAME``, with the profile name as
SourceIdentity. Which calls, and with which condition keys, follows the
Service Authorization Reference for SageMaker and the developer guide's
"Give your users access to private spaces" policy: List*/Describe* to show
the domain, the profile, spaces and apps; CreateSpace and CreateApp with
``sagemaker:OwnerUserProfileArn`` and ``sagemaker:SpaceSharingType``, each
with AddTags as its dependent action (``sagemaker:TaggingAction``);
UpdateSpace, DeleteApp, DeleteSpace of the member's own resources.

What Studio puts into the request tags is the open question: it adds the
system tags ``sagemaker:user-profile-arn`` and ``sagemaker:domain-arn`` (seen
in AccessDenied messages for AddTags on CreateSpace), and the domain's custom
tag propagation may or may not put the profile's ``Team`` tag into the
request itself: :class:`Studio` builds both cases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from broker.profile_name import profile_name_for

from .calls import principal_context, sagemaker_arn, tags_context
from .deployed import Role
from .evaluator import ContextValue, Request

SPACE = "my-space"


@dataclass(frozen=True)
class Studio:
    """A team member's Studio: their team's role, profile, domain and whether tags propagate into requests."""

    role: Role
    user: str
    account_id: str
    region: str
    domain_id: str
    team_tag_in_requests: bool

    @property
    def team(self) -> str:
        return self.role.tags["Team"]

    @property
    def profile(self) -> str:
        return profile_name_for(self.user, self.team)

    def arn(self, resource: str) -> str:
        return sagemaker_arn(self.region, self.account_id, resource)

    def profile_arn(self, profile: str | None = None) -> str:
        return self.arn(f"user-profile/{self.domain_id}/{profile or self.profile}")

    def request(
        self, action: str, resource: str, context: Mapping[str, ContextValue] | None = None
    ) -> Request:
        principal = principal_context(self.role.tags, self.profile)
        return Request(f"sagemaker:{action}", resource, self.role.arn, principal | dict(context or {}))

    def studio_tags(self, owner: str | None = None) -> dict[str, str]:
        """The tags Studio sends on a create in this member's (or ``owner``'s) name."""
        tags = {"sagemaker:user-profile-arn": self.profile_arn(owner),
                "sagemaker:domain-arn": self.arn(f"domain/{self.domain_id}")}
        if self.team_tag_in_requests:
            tags["Team"] = owner.split("--", 1)[0] if owner else self.team
        return tags

    def ownership(self, owner: str | None = None, sharing: str = "Private") -> dict[str, ContextValue]:
        return {"sagemaker:OwnerUserProfileArn": self.profile_arn(owner),
                "sagemaker:SpaceSharingType": sharing}

    def created(self, action: str, resource: str, tags: Mapping[str, str],
                extra: Mapping[str, ContextValue]) -> list[Request]:
        """A create with tags, and the AddTags SageMaker authorizes as its dependent action."""
        context = tags_context("RequestTag", tags) | dict(extra)
        return [self.request(action, resource, context),
                self.request("AddTags", resource, context | {"sagemaker:TaggingAction": action})]

    def existing(self, tags: Mapping[str, str]) -> dict[str, ContextValue]:
        return tags_context("ResourceTag", tags, "sagemaker")

    def space_arn(self, space: str = SPACE) -> str:
        return self.arn(f"space/{self.domain_id}/{space}")

    def app_arn(self, space: str = SPACE) -> str:
        return self.arn(f"app/{self.domain_id}/{space}/JupyterLab/default")

    def open_studio(self) -> dict[str, list[Request]]:
        """Every step of: open Studio, create a private space, start, resize, stop and delete it."""
        space_tags = self.studio_tags()
        on_space = self.existing(space_tags) | self.ownership()
        return {
            "list": [self.request(a, "*") for a in ("ListDomains", "ListUserProfiles", "ListSpaces",
                                                    "ListApps")],
            "describe": [
                self.request("DescribeDomain", self.arn(f"domain/{self.domain_id}")),
                self.request("DescribeUserProfile", self.profile_arn(),
                             self.existing({"Team": self.team, "User": self.user})),
                self.request("DescribeSpace", self.space_arn(), self.existing(space_tags)),
                self.request("DescribeApp", self.app_arn(), self.existing(space_tags)),
                self.request("ListTags", self.space_arn(), self.existing(space_tags)),
            ],
            "create space": self.created("CreateSpace", self.space_arn(), space_tags, self.ownership()),
            "create app": self.created("CreateApp", self.app_arn(), space_tags, self.ownership()),
            "update space": [self.request("UpdateSpace", self.space_arn(), on_space)],
            "delete app": [self.request("DeleteApp", self.app_arn(), on_space)],
            "delete space": [self.request("DeleteSpace", self.space_arn(), on_space)],
        }
