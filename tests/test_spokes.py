"""Spoke sessions against STS in moto: per-person AssumeRole, cached, sanitised, typed errors."""

from __future__ import annotations

import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError
from hypothesis import given
from hypothesis import strategies as st

from broker.aws import AwsClients
from broker.config import DomainRef, SpokeAccess, Team
from broker.exceptions import SpokeFailure
from broker.profile_name import profile_name_for
from broker.spokes import SpokeSessions, source_identity, tag_value

DURATION = 1800
MARGIN = 300
TEAM = Team(
    id="team-a",
    account_id="111111111111",
    region="eu-west-1",
    domain=DomainRef(domain_id="d-abc"),
    execution_role_arn="arn:aws:iam::111111111111:role/team-a-exec",
    tags={},
    user_settings={},
    spoke_access=SpokeAccess(external_id="ext-team-a-0123", session_duration_seconds=DURATION),
)
TEAM_B = replace(TEAM, id="team-b", account_id="222222222222")

IDENTITY = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")


def is_tag_value(value: str) -> bool:
    """AWS: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]{0,256}."""
    return len(value) <= 256 and all(
        unicodedata.category(c)[0] in "LNZ" or c in "_.:/=+-@" for c in value)


class Clock:
    def __init__(self) -> None:
        self.now = time.time()  # moto's Expiration is real time + duration

    def __call__(self) -> float:
        return self.now


@dataclass
class Recorder:
    """What reached STS, seen through botocore events of the shared session."""

    assume_role_params: list[dict[str, Any]] = field(default_factory=list)
    sts_urls: list[str] = field(default_factory=list)
    fail_with: str | None = None

    def params(self, params: dict[str, Any], **_: Any) -> None:
        self.assume_role_params.append(dict(params))

    def sign(self, request: Any, **_: Any) -> None:
        self.sts_urls.append(request.url)

    def answer(self, **_: Any) -> Any:
        if self.fail_with is None:
            return None

        class Http:
            status_code = 403

        return Http(), {"Error": {"Code": self.fail_with, "Message": "not authorized"},
                        "ResponseMetadata": {}}


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def clients(mocked: None, recorder: Recorder) -> AwsClients:
    aws = AwsClients()
    # Registered before any client exists: each client copies the emitter when made.
    aws.register("provide-client-params.sts.AssumeRole", recorder.params)
    aws.register("before-sign.sts.AssumeRole", recorder.sign)
    aws.register("before-call.sts.AssumeRole", recorder.answer)
    return aws


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(clients: AwsClients, clock: Clock) -> SpokeSessions:
    return SpokeSessions(clients, clock=clock, refresh_margin_seconds=MARGIN)


def access_key(client: Any) -> str:
    """The access key the (shared) client signs this person's calls with."""
    return client.credentials.access_key


def test_client_lands_in_the_spoke_account_and_region_as_the_person(
    sessions: SpokeSessions,
) -> None:
    sts = sessions.client(TEAM, "sts", "alice@example.com")

    caller = sts.get_caller_identity()
    assert caller["Account"] == "111111111111"
    assert caller["Arn"] == (
        "arn:aws:sts::111111111111:assumed-role/StudioBrokerAccess/alice@example.com")
    assert sts.meta.region_name == "eu-west-1"


def test_assume_role_parameters(sessions: SpokeSessions, recorder: Recorder) -> None:
    sessions.client(TEAM, "sagemaker", "alice@example.com")

    assert recorder.assume_role_params == [{
        "RoleArn": "arn:aws:iam::111111111111:role/StudioBrokerAccess",
        "RoleSessionName": "alice@example.com",
        "SourceIdentity": "alice@example.com",
        "ExternalId": "ext-team-a-0123",
        "DurationSeconds": DURATION,
        "Tags": [{"Key": "User", "Value": "alice@example.com"},
                 {"Key": "Team", "Value": "team-a"},
                 {"Key": "Profile", "Value": profile_name_for("alice@example.com", "team-a")}],
    }]
    # The team's regional STS endpoint, not the hub's default region.
    assert recorder.sts_urls == ["https://sts.eu-west-1.amazonaws.com/"]


def test_no_external_id_parameter_when_none_is_configured(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    team = replace(TEAM, spoke_access=SpokeAccess(external_id=""))

    sessions.client(team, "sagemaker", "alice")

    [params] = recorder.assume_role_params
    assert "ExternalId" not in params
    assert params["DurationSeconds"] == 3600


def test_credentials_are_reused_for_the_same_person_and_team(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    first = sessions.client(TEAM, "sagemaker", "alice")
    second = sessions.client(TEAM, "sagemaker", "alice")
    sts = sessions.client(TEAM, "sts", "alice")

    assert len(recorder.assume_role_params) == 1
    assert second.credentials is first.credentials
    assert access_key(sts) == access_key(first)


def test_credentials_are_refreshed_at_expiry_minus_margin(
    sessions: SpokeSessions, recorder: Recorder, clients: AwsClients, clock: Clock
) -> None:
    first = sessions.client(TEAM, "sagemaker", "alice")
    clock.now += DURATION - MARGIN - 5
    assert sessions.client(TEAM, "sagemaker", "alice").credentials is first.credentials

    clock.now += 10
    second = sessions.client(TEAM, "sagemaker", "alice")

    assert len(recorder.assume_role_params) == 2
    assert access_key(second) != access_key(first)
    # One shared SageMaker client and the hub's STS client, whatever the sessions.
    assert clients.client_count() == 2
    assert len(sessions) == 1


def test_different_people_never_share_a_session(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    alice = sessions.client(TEAM, "sts", "alice")
    bob = sessions.client(TEAM, "sts", "bob")

    assert len(recorder.assume_role_params) == 2
    assert access_key(alice) != access_key(bob)
    assert bob.get_caller_identity()["Arn"].endswith("/bob")
    assert [p["SourceIdentity"] for p in recorder.assume_role_params] == ["alice", "bob"]


def test_same_person_in_two_teams_gets_two_sessions(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    a = sessions.client(TEAM, "sts", "alice")
    b = sessions.client(TEAM_B, "sts", "alice")

    assert len(recorder.assume_role_params) == 2
    assert a.get_caller_identity()["Account"] == "111111111111"
    assert b.get_caller_identity()["Account"] == "222222222222"


def test_cache_is_a_bounded_lru(clients: AwsClients, clock: Clock, recorder: Recorder) -> None:
    sessions = SpokeSessions(clients, clock=clock, max_cached=2)
    alice = sessions.client(TEAM, "sts", "alice")
    sessions.client(TEAM, "sts", "bob")
    sessions.client(TEAM, "sts", "alice")  # alice is now the most recent
    sessions.client(TEAM, "sts", "carol")  # evicts bob

    assert len(sessions) == 2
    assert sessions.client(TEAM, "sts", "alice").credentials is alice.credentials
    assert len(recorder.assume_role_params) == 3
    sessions.client(TEAM, "sts", "bob")
    assert len(recorder.assume_role_params) == 4


def test_concurrent_first_calls_end_with_one_session(
    sessions: SpokeSessions,
) -> None:
    results: list[Any] = []
    barrier = threading.Barrier(6)

    def sign_in() -> None:
        barrier.wait()
        results.append(sessions.client(TEAM, "sagemaker", "alice"))

    threads = [threading.Thread(target=sign_in) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 6
    assert all(client.credentials is results[0].credentials for client in results)
    assert len(sessions) == 1


def test_clear_forgets_everything(sessions: SpokeSessions, recorder: Recorder) -> None:
    sessions.client(TEAM, "sts", "alice")
    sessions.clear()
    sessions.client(TEAM, "sts", "alice")

    assert len(recorder.assume_role_params) == 2


@pytest.mark.parametrize("code", ["AccessDenied", "RegionDisabledException"])
def test_assume_role_refusal_is_a_spoke_failure(
    sessions: SpokeSessions, recorder: Recorder, code: str
) -> None:
    recorder.fail_with = code

    with pytest.raises(SpokeFailure) as caught:
        sessions.client(TEAM, "sagemaker", "alice")

    assert caught.value.reason == f"assume_role_failed:{code}"
    assert caught.value.status == 502
    assert "could not reach" in caught.value.public_message
    assert len(sessions) == 0
    recorder.fail_with = None  # a later attempt asks STS again
    sessions.client(TEAM, "sagemaker", "alice")
    assert len(recorder.assume_role_params) == 2


def test_unreachable_sts_is_a_spoke_failure(mocked: None, clock: Clock) -> None:
    clients = AwsClients()

    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://sts.eu-west-1.amazonaws.com")

    clients.register("before-call.sts.AssumeRole", unreachable)
    sessions = SpokeSessions(clients, clock=clock)

    with pytest.raises(SpokeFailure) as caught:
        sessions.client(TEAM, "sagemaker", "alice")

    assert caught.value.reason == "assume_role_failed:EndpointConnectionError"
    assert len(sessions) == 0


def test_odd_user_id_is_sanitised_in_every_parameter(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    user = "Zoë O'Brien/" + "x" * 300
    sts = sessions.client(TEAM, "sts", user)

    [params] = recorder.assume_role_params
    assert IDENTITY.fullmatch(params["SourceIdentity"])
    assert params["RoleSessionName"] == params["SourceIdentity"]
    tags = {t["Key"]: t["Value"] for t in params["Tags"]}
    user_tag = tags["User"]
    assert is_tag_value(user_tag) and len(user_tag) == 256
    assert user_tag.startswith("Zoë O_Brien/x")  # letters and spaces are legal in tags
    assert tags["Profile"] == profile_name_for(user, TEAM.id)
    assert sts.get_caller_identity()["Account"] == "111111111111"


# -- sanitisation --------------------------------------------------------------


@pytest.mark.parametrize("user", ["alice", "alice@example.com", "a.b-c_d+e,f@g", "x" * 64, "ab"])
def test_legal_ids_are_kept_verbatim(user: str) -> None:
    assert source_identity(user) == user
    assert tag_value(user.replace(",", "")) == user.replace(",", "")


@pytest.mark.parametrize("user", ["a", "", "x" * 65, "a b", "zoë", "a/b", "a=b", "a:b", "\x00"])
def test_illegal_ids_become_legal_with_a_hash(user: str) -> None:
    identity = source_identity(user)

    assert IDENTITY.fullmatch(identity)
    assert re.search(r"=[0-9a-f]{20}$", identity)
    assert source_identity(user) == identity  # deterministic


def test_ids_that_naive_sanitising_would_merge_stay_distinct() -> None:
    users = ["a b", "a_b", "a/b", "a=b", "a_b=", "x" * 64 + "1", "x" * 64 + "2", "a", "a=" + "0" * 20]
    identities = [source_identity(u) for u in users]
    tags = [tag_value(u) for u in users]

    assert len(set(identities)) == len(users)
    assert len(set(tags)) == len(users)


def test_a_crafted_id_cannot_take_another_persons_hashed_identity() -> None:
    victim = source_identity("zoë")
    # Whoever presents the victim's stand-in as their own id gets a different one.
    assert source_identity(victim) != victim


@given(st.lists(st.text(max_size=80), min_size=2, max_size=5, unique=True))
def test_sanitising_is_legal_and_injective(users: list[str]) -> None:
    identities = [source_identity(u) for u in users]
    tags = [tag_value(u) for u in users]

    assert all(IDENTITY.fullmatch(i) for i in identities)
    assert all(is_tag_value(t) and t for t in tags)
    assert len(set(identities)) == len(users)
    assert len(set(tags)) == len(users)


@given(st.text(min_size=1, max_size=300), st.sampled_from(["t", "team-a", "data-eng", "a" * 46]))
def test_the_profile_tag_is_the_profile_name_and_always_a_legal_tag_value(user: str, team_id: str) -> None:
    """The broker-access policy compares the Profile tag with the profile's ARN: it must be verbatim."""
    name = profile_name_for(user, team_id)
    assert is_tag_value(name) and 1 <= len(name) <= 63
    assert tag_value(name) == name


def test_the_profile_tag_names_the_profile_the_broker_uses(
    sessions: SpokeSessions, recorder: Recorder
) -> None:
    sessions.client(TEAM, "sagemaker", "alice@example.com")
    sessions.client(TEAM_B, "sagemaker", "alice@example.com")

    # one session per team (the cache key has the team), so each names that team's profile
    profiles = [{t["Key"]: t["Value"] for t in p["Tags"]}["Profile"] for p in recorder.assume_role_params]
    assert profiles == [profile_name_for("alice@example.com", "team-a"),
                        profile_name_for("alice@example.com", "team-b")]


def signed_key(request: Any) -> str:
    """The access key id in a SigV4 Authorization header."""
    authorization = request.headers["Authorization"]
    authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def test_clients_do_not_grow_with_people_and_each_call_is_signed_as_its_person(
    sessions: SpokeSessions, clients: AwsClients
) -> None:
    signed: list[str] = []
    clients.register("before-send.sts.GetCallerIdentity",
                     lambda request, **_: signed.append(signed_key(request)))
    people = [f"person{n}" for n in range(40)]
    sessions.client(TEAM, "sts", "warm-up").get_caller_identity()
    made = clients.client_count()

    for person in people:
        sts = sessions.client(TEAM, "sts", person)
        assert sts.get_caller_identity()["Arn"].endswith(f"/{person}")
        assert signed[-1] == access_key(sts)

    assert clients.client_count() == made == 2  # hub STS (AssumeRole) + one shared spoke STS
    assert len(set(signed)) == len(people) + 1


def test_a_shared_client_signs_nothing_without_a_person(sessions: SpokeSessions) -> None:
    shared = sessions.client(TEAM, "sts", "alice")._client

    with pytest.raises(NoCredentialsError):
        shared.get_caller_identity()


def test_threads_on_one_shared_client_each_sign_as_their_own_person(
    sessions: SpokeSessions, clients: AwsClients
) -> None:
    people = ["alice", "bob", "carol", "dave"]
    acting = {person: sessions.client(TEAM, "sts", person) for person in people}
    barrier = threading.Barrier(len(people))
    seen: dict[str, list[str]] = {person: [] for person in people}

    def sign_in(person: str) -> None:
        barrier.wait()
        for _ in range(5):
            seen[person].append(acting[person].get_caller_identity()["Arn"].rsplit("/", 1)[1])

    threads = [threading.Thread(target=sign_in, args=(person,)) for person in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert seen == {person: [person] * 5 for person in people}
    assert clients.client_count() == 2


def test_pages_are_signed_as_the_person(sessions: SpokeSessions, clients: AwsClients) -> None:
    signed: list[str] = []
    clients.register("before-send.iam.ListRoles",
                     lambda request, **_: signed.append(signed_key(request)))
    iam = sessions.client(TEAM, "iam", "alice")

    pages = list(iam.get_paginator("list_roles").paginate())

    assert pages and signed == [access_key(iam)] * len(pages)
