"""One sign-in, top to bottom: verified identity -> team -> replay guard -> profile -> URL.

The login service knows nothing about HTTP. It returns a typed result (a
redirect, or a holding continuation when a new profile is still being made)
or raises a typed :class:`~broker.exceptions.BrokerError`.

A warm sign-in is one round trip, not two. Once the assertion is fully
verified, its replay write runs on a small per-container thread pool; when
presign is then the only call the spoke needs (profile known InService, the
person's session held), this thread presigns meanwhile, and the URL is
released only after the write succeeded: for a used assertion or a failed
write it is thrown away. Every other path (a first sign-in, a cold container)
waits for the write before it calls the spoke at all, and so does an
assertion this container has already been posted, so a replayed assertion
costs at most one discarded presign per container and never creates anything
(see docs/security.md, "One round trip").

An application routed by membership (``teams_from: membership``) names no
team: the Identity Store does (:class:`~broker.membership.MembershipResolver`).
One team lands as above; several get a :class:`Picking` (the picker page),
whose choices are redeemed once by :meth:`LoginService.choose` against a fresh
membership answer (see docs/security.md, "The team picker").
"""

from __future__ import annotations

import contextlib
import contextvars
import secrets
import threading
import time
from collections import OrderedDict
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from broker.aws import within_deadline
from broker.config import RoutingTable, Team
from broker.exceptions import (
    BrokerError,
    ChoiceInvalid,
    ContinuationInvalid,
    NotAuthorised,
    ProfileGone,
    ProfileNotReady,
    TeamDisabled,
    UnknownTeam,
)
from broker.membership import Membership, teams_of
from broker.profiles import ProfileService, ProfileStatus
from broker.replay import assertion_key
from broker.saml import Identity
from broker.spokes import source_identity

# Kept free before the deadline for the calls after the wait (presign, and a
# continuation write when the profile is still not ready).
PRESIGN_RESERVE_SECONDS = 4.0
# A Lambda container serves one sign-in at a time, the local stack's HTTP server a
# few at once; threads are made on demand, and an idle one costs no CPU.
REPLAY_WRITE_THREADS = 4
# Assertions this container was posted lately (their keys, ~0.2 KB each): a second
# post of one is a replay, and gets no presign before its replay write says so.
RECENT_ASSERTIONS = 1024


class IdentityValidator(Protocol):
    def validate(self, saml_response: str) -> Identity: ...


class AssertionReplayGuard(Protocol):
    def remember(self, issuer: str, assertion_id: str, not_on_or_after: float) -> None: ...


class Continuations(Protocol):
    def issue(self, payload: dict[str, object]) -> str: ...
    def redeem(self, token: str) -> dict[str, object]: ...


class Memberships(Protocol):
    def membership(self, user_id: str) -> Membership: ...
    def forget(self, user_id: str) -> None: ...


# A picker's payload says what it is, so that a holding-page continuation and a picker
# can never stand in for each other.
PICK_KIND = "pick"
# One choice's value in the picker's link: 128 random bits, base64url.
_CHOICE_BYTES = 16


@dataclass(frozen=True)
class Landed:
    """The person may go to Studio: redirect the browser to ``url``."""

    url: str
    team_id: str
    account_id: str
    profile_name: str


@dataclass(frozen=True)
class SignInTrace:
    """What one sign-in carries across the holding page's polls: the reference a person
    quotes (the first request's correlation id) and when it began (epoch seconds)."""

    reference: str
    started_at: float


@dataclass(frozen=True)
class StillPreparing:
    """The profile is not InService yet: show a holding page that resumes with ``token``."""

    token: str
    team_id: str
    attempt: int
    trace: SignInTrace


@dataclass(frozen=True)
class Choice:
    """One team on the picker: its link carries ``value``, known only server-side."""

    value: str
    team: Team


@dataclass(frozen=True)
class Picking:
    """The person is in several teams: show the picker; ``token`` goes into its cookie."""

    token: str
    choices: tuple[Choice, ...]
    trace: SignInTrace
    team_id: str = ""  # no team yet (the metric's dimension)
    # The person's teams under maintenance: shown on the picker, not choosable.
    unavailable: tuple[Team, ...] = ()


LoginResult = Landed | StillPreparing | Picking

NO_TEAM_BY_MEMBERSHIP = (
    "You are not a member of any team that uses Studio, so there is no Studio to open for you.")
ALL_TEAMS_DISABLED = (
    "Studio is temporarily unavailable for maintenance for every team you are a member of.")
SOURCE_NOT_ALLOWED = (
    "Your team's Studio can only be reached from the organisation's network. "
    "Connect to it (for example through the VPN) and start again from your access portal."
)


class LoginService:
    """Turns a SAMLResponse (or a holding page's continuation) into a Studio URL."""

    def __init__(
        self,
        routing: RoutingTable,
        validator: IdentityValidator,
        replay: AssertionReplayGuard,
        profiles: ProfileService,
        continuations: Continuations,
        *,
        max_attempts: int = 40,
        resume_wait_seconds: float = 4.0,
        replay_writes: Executor | None = None,
        memberships: Memberships | None = None,
        pickers: Continuations | None = None,
    ) -> None:
        self.routing = routing
        self.validator = validator
        self.replay = replay
        self.profiles = profiles
        self.continuations = continuations
        # Only with an identity_store in the table (wiring.py): routing by membership.
        self.memberships = memberships
        self.pickers = pickers or continuations
        self.max_attempts = max_attempts
        self.resume_wait_seconds = resume_wait_seconds
        # Made with the service, that is once per container.
        self._replay_writes = replay_writes or ThreadPoolExecutor(
            max_workers=REPLAY_WRITE_THREADS, thread_name_prefix="broker-replay-write")
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._recent_lock = threading.Lock()

    def sign_in(
        self, saml_response: str, source_ip: str | None = None, *, deadline: float | None = None,
        trace: SignInTrace | None = None,
    ) -> LoginResult:
        """Validate a posted SAMLResponse and land the person in their team's Studio.

        ``source_ip`` is the client address API Gateway saw (never a header the
        client can set); it matters only for teams with ``allowed_source_cidrs``.
        ``deadline`` (``time.monotonic()`` scale) is when the answer must be out: it
        bounds every AWS call (:func:`broker.aws.within_deadline`), and a new profile
        is waited for only while presign still fits before it. ``trace`` is kept in the
        continuation, so every holding page of this sign-in shows the same reference.
        """
        trace = trace or SignInTrace(reference="", started_at=time.time())
        identity = self.validator.validate(saml_response)
        if identity.by_membership:
            return self._sign_in_by_membership(identity, source_ip, deadline, trace)
        try:
            team = self._routable_team(identity.team_id, source_ip)
            with within_deadline(deadline):
                # Only a verified assertion for a live team consumes its id: a refused
                # sign-in writes nothing anywhere.
                return self._land_unused(identity, team, trace, deadline)
        except BrokerError as error:
            error.about(application=identity.application, team=identity.team_id,
                        user=source_identity(identity.user_id))
            raise

    def resume(
        self, token: str, source_ip: str | None = None, *, deadline: float | None = None
    ) -> LoginResult:
        """Continue a sign-in from the holding page (single-use continuation token)."""
        with within_deadline(deadline):
            payload = self.continuations.redeem(token)
        if payload.get("kind") == PICK_KIND:  # a picker's token in the holding page's cookie
            raise ContinuationInvalid("continuation_is_a_picker")
        user_id, team_id = str(payload["user"]), str(payload["team"])
        attempt = int(str(payload["attempt"]))
        # Continuations written before the trace existed have none: they start one here.
        trace = SignInTrace(str(payload.get("ref", "")), float(str(payload.get("started", time.time()))))
        try:
            team = self._routable_team(team_id, source_ip)
            with within_deadline(deadline):
                return self._land(user_id, team, attempt=attempt + 1, trace=trace,
                                  wait_seconds=self._wait_within(self.resume_wait_seconds, deadline))
        except BrokerError as error:
            error.about(team=team_id, user=source_identity(user_id))
            if trace.reference:
                error.about(reference=trace.reference)
            raise

    def choose(
        self, token: str, choice: str, source_ip: str | None = None, *, deadline: float | None = None
    ) -> LoginResult:
        """Redeem a picker (single use) for the team of ``choice``, checked against a fresh
        membership answer; then land as a first sign-in does."""
        try:
            with within_deadline(deadline):
                payload = self.pickers.redeem(token)
        except ContinuationInvalid as error:  # the picker's own words, the store's reason
            raise ChoiceInvalid(error.reason) from None
        if payload.get("kind") != PICK_KIND:
            raise ChoiceInvalid("choice_not_a_picker")
        choices = payload.get("choices")
        team_id = choices.get(choice) if isinstance(choices, dict) and isinstance(choice, str) else None
        user_id = str(payload["user"])
        trace = SignInTrace(str(payload.get("ref", "")), float(str(payload.get("started", time.time()))))
        try:
            if not isinstance(team_id, str):
                raise ChoiceInvalid("choice_unknown")
            memberships = self._memberships()
            with within_deadline(deadline):
                memberships.forget(user_id)  # the picker was shown from an answer up to a TTL old
                member_of = {t.id for t in teams_of(memberships.membership(user_id), self.routing)}
            if team_id not in member_of:
                raise NotAuthorised("choice_no_longer_member")
            team = self._routable_team(team_id, source_ip)
            with within_deadline(deadline):
                return self._land(user_id, team, attempt=0, trace=trace,
                                  wait_seconds=self._wait_within(None, deadline))
        except BrokerError as error:
            error.about(application=str(payload.get("application", "")), user=source_identity(user_id))
            if isinstance(team_id, str):
                error.about(team=team_id)
            if trace.reference:
                error.about(reference=trace.reference)
            raise

    def _sign_in_by_membership(self, identity: Identity, source_ip: str | None,
                               deadline: float | None, trace: SignInTrace) -> LoginResult:
        """The Identity Store names the teams: none refused, one landed, several a picker.

        The assertion's id is consumed only once the broker lands or shows the picker: a
        refusal, or an Identity Store that does not answer, writes nothing anywhere.
        """
        teams: list[Team] = []
        try:
            memberships = self._memberships()
            with within_deadline(deadline):
                teams = teams_of(memberships.membership(identity.user_id), self.routing)
            if not teams:
                raise NotAuthorised("no_team_by_membership", NO_TEAM_BY_MEMBERSHIP)
            if len(teams) == 1:
                team = self._routable_team(teams[0].id, source_ip)
                with within_deadline(deadline):
                    return self._land_unused(identity, team, trace, deadline)
            usable = [team for team in teams if team.enabled]
            if not usable:  # nothing to choose: the maintenance page, and nothing written
                raise TeamDisabled("all_teams_disabled", ALL_TEAMS_DISABLED)
            choices = tuple(Choice(secrets.token_urlsafe(_CHOICE_BYTES), team) for team in usable)
            with within_deadline(deadline):
                unused = self._remember(identity)
                try:  # the picker's write beside the replay write: one round trip
                    token = self.pickers.issue({
                        "kind": PICK_KIND, "user": identity.user_id,
                        "application": identity.application,
                        "choices": {c.value: c.team.id for c in choices},
                        "ref": trace.reference, "started": trace.started_at})
                except Exception:
                    unused.confirmed()
                    raise
                unused.confirmed()  # the picker's cookie leaves only for an unused assertion
            return Picking(token, choices, trace,
                           unavailable=tuple(team for team in teams if not team.enabled))
        except BrokerError as error:
            error.about(application=identity.application, user=source_identity(identity.user_id))
            if len(teams) == 1:  # the page may name the one team (a verified fact by now)
                error.about(team=teams[0].id)
            raise

    def _memberships(self) -> Memberships:
        if self.memberships is None:  # the operator path refuses such a table: defensive
            raise NotAuthorised("membership_not_configured")
        return self.memberships

    def _routable_team(self, team_id: str, source_ip: str | None) -> Team:
        team = self.routing.team(team_id)
        if team is None:
            raise UnknownTeam(f"unknown_team:{team_id}"[:100])
        if not team.enabled:
            raise TeamDisabled("team_disabled", team.disabled_message or None)
        # Checked only after the signature: an unverified request learns nothing of the allowlist.
        if not team.allows_source(source_ip):
            raise NotAuthorised("source_ip_not_allowed", SOURCE_NOT_ALLOWED)
        return team

    def _wait_within(self, wait_seconds: float | None, deadline: float | None) -> float | None:
        """How long a new profile may be waited for, leaving room for presign before ``deadline``."""
        if deadline is None:
            return wait_seconds
        room = max(0.0, deadline - time.monotonic() - PRESIGN_RESERVE_SECONDS)
        configured = self.profiles.wait_seconds if wait_seconds is None else wait_seconds
        return min(configured, room)

    def _remember(self, identity: Identity) -> ReplayWrite:
        """Start the replay write of ``identity``'s assertion on the pool."""
        # The copied context carries the request's deadline into the pool's thread.
        context = contextvars.copy_context()
        return ReplayWrite(self._replay_writes.submit(
            context.run, self.replay.remember,
            identity.issuer, identity.assertion_id, identity.not_on_or_after),
            first_post_here=self._first_post(identity))

    def _first_post(self, identity: Identity) -> bool:
        """Whether this container sees the assertion for the first time (lately); remember it."""
        key = assertion_key(identity.issuer, identity.assertion_id)
        with self._recent_lock:
            seen = key in self._recent
            self._recent[key] = None
            self._recent.move_to_end(key)
            if len(self._recent) > RECENT_ASSERTIONS:
                self._recent.popitem(last=False)
        return not seen

    def _land_unused(self, identity: Identity, team: Team, trace: SignInTrace,
                     deadline: float | None) -> LoginResult:
        """Consume the assertion's id and land in ``team``; whatever the spoke answered, only an
        unused assertion gets it (the replay write runs beside a warm presign)."""
        unused = self._remember(identity)
        try:
            result = self._land_beside(unused, identity.user_id, team, trace=trace,
                                       wait_seconds=self._wait_within(None, deadline))
        except Exception:
            unused.confirmed()  # a replay or a table failure outranks the spoke's answer
            raise
        unused.confirmed()  # the URL leaves only for an unused assertion
        return result

    def _land_beside(self, unused: ReplayWrite, user_id: str, team: Team, *, trace: SignInTrace,
                     wait_seconds: float | None) -> LoginResult:
        """Presign while the replay write runs when that is the only spoke call; else wait
        for the write first, and go the whole way as an unused assertion."""
        known = None
        if unused.first_post_here:  # a repeat here is a replay: no presign to throw away
            # ProfileGone: deleted since cached (and now forgotten): the whole way, below
            with contextlib.suppress(ProfileGone):
                known = self.profiles.presign_if_known(team, user_id)
        if known is not None:
            profile, url = known
            return Landed(url, team.id, team.account_id, profile.name)
        unused.confirmed()
        return self._land(user_id, team, attempt=0, trace=trace, wait_seconds=wait_seconds)

    def _land(self, user_id: str, team: Team, *, attempt: int, trace: SignInTrace,
              wait_seconds: float | None) -> LoginResult:
        status = self.profiles.ensure(team, user_id, wait_seconds=wait_seconds)
        if not status.ready:
            return self._hold(user_id, team, attempt, trace)
        try:
            return self._presign(user_id, team, status)
        except ProfileGone:
            # Deleted since we cached it as InService: look again once.
            status = self.profiles.ensure(team, user_id, wait_seconds=wait_seconds)
            if not status.ready:
                return self._hold(user_id, team, attempt, trace)
            return self._presign(user_id, team, status)

    def _presign(self, user_id: str, team: Team, status: ProfileStatus) -> Landed:
        url = self.profiles.presigned_url(team, user_id, status.profile)
        return Landed(url, team.id, team.account_id, status.profile.name)

    def _hold(self, user_id: str, team: Team, attempt: int, trace: SignInTrace) -> StillPreparing:
        if attempt >= self.max_attempts:
            raise ProfileNotReady("profile_wait_exhausted")
        token = self.continuations.issue({"user": user_id, "team": team.id, "attempt": attempt,
                                          "ref": trace.reference, "started": trace.started_at})
        return StillPreparing(token, team.id, attempt, trace)


class ReplayWrite:
    """The replay write of one assertion, running beside the sign-in's spoke calls."""

    def __init__(self, future: Future[None], *, first_post_here: bool = True) -> None:
        self._future = future
        self.first_post_here = first_post_here

    def confirmed(self) -> None:
        """Return once the write succeeded (the assertion was unused); else raise its error.

        :class:`~broker.exceptions.ReplayDetected` for a used assertion,
        :class:`~broker.exceptions.BrokerUnavailable` for a failed write. The write
        is bounded by the request's deadline, and so is this wait.
        """
        self._future.result()
