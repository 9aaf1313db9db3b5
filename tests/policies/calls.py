"""The calls the broker really makes, and the authorization requests AWS makes of each.

:class:`CallRecorder` hooks botocore's events on the broker's own client
factory (:meth:`broker.aws.AwsClients.register`): the API parameters of every
call, the credentials it was signed with, and what each AssumeRole asked for
(role, ExternalId, SourceIdentity, session tags), so a spoke call is known by
the session that made it.

:func:`broker_requests` turns one call into the requests IAM evaluates, after
the Service Authorization Reference for SageMaker and STS: the action on its
resource ARN, with the condition keys the SAR lists for it, plus its dependent
actions (CreateUserProfile -> AddTags with ``sagemaker:TaggingAction`` and
iam:PassRole; AssumeRole with tags -> sts:TagSession, with SourceIdentity ->
sts:SetSourceIdentity). A call it does not know fails the test: a new call
needs a decision about its policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from broker.aws import AwsClients, acting_credentials

from .evaluator import ContextValue, Request

_PARAMS = "policies.params"
HUB_EGRESS_IP = "3.80.0.10"  # a Lambda outside a VPC leaves from an address of AWS's, not ours


@dataclass(frozen=True)
class Session:
    """A spoke session as AssumeRole made it."""

    role_arn: str
    tags: Mapping[str, str]
    source_identity: str | None
    external_id: str | None

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]


@dataclass(frozen=True)
class Call:
    service: str  # the IAM service prefix
    operation: str
    params: Mapping[str, Any]
    region: str
    session: Session | None  # None: the hub's own credentials


@dataclass
class CallRecorder:
    """Every call made by the clients of ``clients``, in order, with the session that made it."""

    calls: list[Call] = field(default_factory=list)
    _sessions: dict[str, Session] = field(default_factory=dict)

    def attach(self, clients: AwsClients) -> CallRecorder:
        clients.register("provide-client-params", self._params)
        clients.register("before-call", self._before_call)
        clients.register("after-call.sts.AssumeRole", self._assumed)
        return self

    def _params(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context[_PARAMS] = dict(params)

    def _before_call(self, model: Any, request_signer: Any, context: dict[str, Any], **_: Any) -> None:
        # A spoke call signs with the person's credentials bound to it (broker/aws.py's shared
        # clients); a hub call with its client's own.
        credentials = acting_credentials() or getattr(request_signer, "_credentials", None)
        access_key = getattr(credentials, "access_key", None)
        self.calls.append(Call(
            service=model.service_model.signing_name, operation=model.name,
            params=context.get(_PARAMS, {}), region=request_signer.region_name,
            session=self._sessions.get(access_key or "")))

    def _assumed(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if "Credentials" not in parsed:
            return
        params = context.get(_PARAMS, {})
        self._sessions[parsed["Credentials"]["AccessKeyId"]] = Session(
            role_arn=params["RoleArn"], tags=tag_map(params.get("Tags")),
            source_identity=params.get("SourceIdentity"), external_id=params.get("ExternalId"))


def tag_map(tags: list[Mapping[str, str]] | None) -> dict[str, str]:
    """An API's ``[{"Key": k, "Value": v}]`` as ``{k: v}``."""
    return {t["Key"]: t["Value"] for t in tags or []}


def request_tags(request: Request) -> dict[str, str]:
    """The ``aws:RequestTag/*`` of a request, by tag key."""
    prefix = "aws:RequestTag/"
    return {k.removeprefix(prefix): str(v) for k, v in request.context.items() if k.startswith(prefix)}


def sagemaker_arn(region: str, account_id: str, resource: str) -> str:
    return f"arn:aws:sagemaker:{region}:{account_id}:{resource}"


def tags_context(kind: str, tags: Mapping[str, str] | None, *services: str) -> dict[str, ContextValue]:
    """Condition keys for tags: ``kind`` is RequestTag (with ``aws:TagKeys``) or ResourceTag."""
    context: dict[str, ContextValue] = {}
    for prefix in ("aws", *services):
        context |= {f"{prefix}:{kind}/{key}": value for key, value in (tags or {}).items()}
    if kind == "RequestTag" and tags is not None:
        context["aws:TagKeys"] = tuple(tags)
    return context


def principal_context(tags: Mapping[str, str], source_identity: str | None) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {f"aws:PrincipalTag/{k}": v for k, v in tags.items()}
    if source_identity is not None:
        context["aws:SourceIdentity"] = source_identity
    return context


def assume_role_requests(
    params: Mapping[str, Any], caller: str, *, org_id: str | None, role_org_id: str | None = None
) -> list[Request]:
    """AssumeRole as IAM authorizes it: AssumeRole, plus TagSession and SetSourceIdentity.

    ``org_id`` is the caller's organisation; ``role_org_id`` the one of the
    account that owns the role (default: the same; ``""``: in no organisation).
    """
    tags = tag_map(params["Tags"]) if "Tags" in params else None
    context: dict[str, ContextValue] = tags_context("RequestTag", tags)
    for key, name in (("sts:ExternalId", "ExternalId"), ("sts:SourceIdentity", "SourceIdentity"),
                      ("sts:RoleSessionName", "RoleSessionName")):
        if name in params:
            context[key] = params[name]
    # the caller's organisation, and the one of the account that owns the role
    if org_id is not None:
        context["aws:PrincipalOrgID"] = org_id
    role_org_id = org_id if role_org_id is None else role_org_id
    if role_org_id:
        context["aws:ResourceOrgID"] = role_org_id
    role = params["RoleArn"]
    requests = [Request("sts:AssumeRole", role, caller, context)]
    if tags is not None:
        requests.append(Request("sts:TagSession", role, caller, context))
    if "SourceIdentity" in params:
        requests.append(Request("sts:SetSourceIdentity", role, caller, context))
    return requests


@dataclass
class ProfileBook:
    """Which user profiles exist, with their tags, as the recorded calls go along."""

    tags: dict[str, Mapping[str, str]] = field(default_factory=dict)

    def after(self, call: Call, arn: str) -> None:
        if call.operation == "CreateUserProfile":
            self.tags[arn] = tag_map(call.params.get("Tags"))


def broker_requests(
    call: Call, role_tags: Mapping[str, str], book: ProfileBook, *, source_ip: str = HUB_EGRESS_IP
) -> list[Request]:
    """The authorization requests of one spoke call made by the broker's session."""
    session = call.session
    assert session is not None, f"{call.operation} was made with the hub's own credentials"
    caller = session.role_arn
    # Session tags override the role's tags of the same key (IAM User Guide, session tags).
    principal = principal_context({**role_tags, **session.tags}, session.source_identity)
    params = call.params
    if call.operation == "ListDomains":
        return [Request("sagemaker:ListDomains", "*", caller, principal)]
    if call.operation not in ("DescribeUserProfile", "CreateUserProfile", "CreatePresignedDomainUrl"):
        raise AssertionError(f"the broker calls {call.service}:{call.operation}: which policy allows it?")
    arn = sagemaker_arn(call.region, session.account_id,
                        f"user-profile/{params['DomainId']}/{params['UserProfileName']}")
    existing = tags_context("ResourceTag", book.tags.get(arn), "sagemaker") if arn in book.tags else {}
    if call.operation == "DescribeUserProfile":
        return [Request("sagemaker:DescribeUserProfile", arn, caller, principal | existing)]
    if call.operation == "CreatePresignedDomainUrl":
        return [Request("sagemaker:CreatePresignedDomainUrl", arn, caller,
                        principal | existing | {"aws:SourceIp": source_ip})]
    tags = tag_map(params.get("Tags"))
    created = principal | tags_context("RequestTag", tags)
    role = params["UserSettings"]["ExecutionRole"]
    book.after(call, arn)
    return [
        Request("sagemaker:CreateUserProfile", arn, caller, created),
        Request("sagemaker:AddTags", arn, caller, created | {"sagemaker:TaggingAction": "CreateUserProfile"}),
        Request("iam:PassRole", role, caller, principal | {"iam:PassedToService": "sagemaker.amazonaws.com"}),
    ]


def with_context(request: Request, changes: Mapping[str, ContextValue | None]) -> Request:
    """``request`` with context keys set (a ``None`` value removes the key)."""
    context = {k: v for k, v in request.context.items() if k not in changes}
    context |= {k: v for k, v in changes.items() if v is not None}
    return replace(request, context=context)
