"""Every error a person signing in can meet, each with its HTTP status.

The handler maps these to a page in one place. ``public_message`` is shown to
the person (never internals); ``reason`` is a short machine-readable cause for
logs and metrics, and must never contain a SAMLResponse or credentials.
"""

from __future__ import annotations

PORTAL_AGAIN = "Open Studio again from your access portal."
ONE_USE = " Reloading this page cannot work: a sign-in is used once."
ASK = " If it keeps happening, ask for help and quote the reference below."


class BrokerError(Exception):
    """Base of all user-facing errors.

    A page answers what happened (``title``, ``public_message``) and what to do
    now (``advice``). ``{team}`` in the title or message becomes the team's display
    name once a sign-in for it was verified, else "this team".
    """

    status: int = 500
    title: str = "Sign-in failed"
    public_message: str = "The sign-in could not be completed."
    advice: str = PORTAL_AGAIN + ASK
    # Sent as Retry-After (a 503): when trying again may help.
    retry_after_seconds: int | None = None
    # The page links to the organisation's or team's request-access form.
    offers_access_request: bool = False
    # Sent as Allow (a 405).
    allowed_methods: str | None = None

    def __init__(self, reason: str, public_message: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if public_message is not None:
            self.public_message = public_message
        # Who and what, once a signature has been verified: for the log line, and for the page
        # only through the routing table (the team's display name, never the raw value).
        self.context: dict[str, str] = {}

    def about(self, **context: str) -> BrokerError:
        """Add verified facts (application, user, team, reference) for the log; earlier facts win."""
        for key, value in context.items():
            self.context.setdefault(key, value)
        return self


class MalformedRequest(BrokerError):
    """The request is not a well-formed SAML POST (400)."""

    status = 400
    title = "Sign-in request not understood"
    public_message = ("The sign-in request was malformed: it is not the form your access portal "
                      "sends to Studio.")
    advice = PORTAL_AGAIN + " A bookmarked or copied link to this page cannot sign you in."


class RequestTooLarge(MalformedRequest):
    """The body is over the configured bound (413)."""

    status = 413
    title = "Sign-in request too large"
    public_message = "The sign-in request was larger than the broker accepts, so it was not read."
    advice = PORTAL_AGAIN + ASK


class MethodNotAllowed(MalformedRequest):
    """The ACS takes only POST (405)."""

    status = 405
    title = "This address cannot be opened directly"
    public_message = ("This is the address your access portal sends your sign-in to. Opening it "
                      "in the browser (a bookmark, a link, the back button) does not sign you in.")
    advice = "Open Studio from your access portal."
    allowed_methods = "POST"


class SignInRejected(BrokerError):
    """The SAML response did not pass validation (401)."""

    status = 401
    title = "Sign-in refused"
    public_message = "Your sign-in could not be verified."


class ReplayDetected(SignInRejected):
    """The assertion was already used (401)."""

    public_message = (
        "This sign-in was already used: a sign-in works once, and reloading the page or going "
        "back sends it again."
    )
    advice = PORTAL_AGAIN


class NotAuthorised(BrokerError):
    """The verified person or application may not use this team (403)."""

    status = 403
    title = "Access denied"
    public_message = "You do not have access to Studio for {team}."
    advice = ("If you need it, request access. If you were given access a moment ago, sign out "
              "of your access portal, sign in again and open Studio from there.")
    offers_access_request = True


class UnknownTeam(BrokerError):
    """The team is not in the routing table (404)."""

    status = 404
    title = "Team not set up"
    public_message = "The application you opened names a team that is not set up in the Studio broker."
    advice = "Ask for help and quote the reference below."


class TeamDisabled(BrokerError):
    """The team's kill switch is on (503)."""

    status = 503
    title = "Studio under maintenance"
    public_message = "Studio for {team} is temporarily unavailable for maintenance."
    advice = "Try again later from your access portal; this page does not change by itself."
    retry_after_seconds = 600


class ProfileNotReady(BrokerError):
    """The user profile is in a state that cannot be used now (409)."""

    status = 409
    title = "Studio profile unavailable"
    public_message = "Your Studio profile for {team} is not usable right now."
    advice = ("Ask for help and quote the reference below: opening Studio again will not help "
              "until the profile is repaired.")


class ProfileGone(ProfileNotReady):
    """The spoke says a profile cached as InService no longer exists (409)."""


class SpokeFailure(BrokerError):
    """The spoke account refused or failed a call (502)."""

    status = 502
    title = "Studio unavailable"
    public_message = "The broker could not reach your team's Studio account."
    advice = "Wait a minute, then open Studio again from your access portal." + ONE_USE + ASK


class ContinuationInvalid(BrokerError):
    """The holding page's continuation is missing, expired or already used (400)."""

    status = 400
    title = "Sign-in expired"
    public_message = ("This sign-in has expired while your Studio was being prepared, or it was "
                      "already continued in another tab.")
    advice = PORTAL_AGAIN + " Your Studio profile keeps being prepared meanwhile."


class ChoiceInvalid(ContinuationInvalid):
    """A team picker's choice is missing, expired, already used or not this browser's (400)."""

    title = "This team choice cannot be used"
    public_message = ("This choice of team has expired, was already used (a choice works once), "
                      "or was not made in this browser.")
    advice = PORTAL_AGAIN + " Then choose your team again."


class ChoiceCookieRefused(ChoiceInvalid):
    """The team picker set its cookie moments ago and the browser did not send it back (400)."""

    title = "Your browser refused the sign-in cookie"
    public_message = ("Your browser did not send back the cookie that the team picker set a "
                      "moment ago, so this choice cannot be used. Cookies are blocked for this site.")
    advice = ("Allow cookies for this site (the broker sets one cookie, only to carry your "
              "choice of team), then open Studio again from your access portal.")


class ContinuationCookieRefused(ContinuationInvalid):
    """The holding page set its cookie moments ago and the browser did not send it back (400)."""

    title = "Your browser refused the sign-in cookie"
    public_message = ("Your browser did not send back the cookie that this sign-in set a moment "
                      "ago, so the sign-in cannot continue. Cookies are blocked for this site.")
    advice = ("Allow cookies for this site (the broker sets one cookie, only to carry this "
              "sign-in across the wait), then open Studio again from your access portal.")


class BrokerUnavailable(BrokerError):
    """A hub-side dependency (the replay and continuation table) failed (503).

    Fail closed: when replay state cannot be checked or written, the sign-in is refused.
    """

    status = 503
    title = "Temporarily unavailable"
    public_message = "The sign-in service is temporarily unavailable."
    advice = "Wait a minute, then open Studio again from your access portal." + ONE_USE + ASK
    retry_after_seconds = 60


class IdentityStoreUnavailable(BrokerError):
    """The Identity Store could not say who is in which group (503); ``reason`` says why.

    Fail closed: without an answer nobody is let into a team by membership, and
    reconcile deletes nothing.
    """

    status = 503
    title = "Team memberships cannot be checked"
    public_message = ("The sign-in service cannot check your team memberships right now, so it "
                      "cannot tell which team's Studio to open. Nothing was changed.")
    advice = "Wait a minute, then open Studio again from your access portal." + ASK
    retry_after_seconds = 60


class IdentityStoreThrottled(IdentityStoreUnavailable):
    """The Identity Store refused for its request rate (ThrottlingException) after the retries."""


class IdentityStoreUnreachable(IdentityStoreUnavailable):
    """No answer from the Identity Store (or its role) within the deadline: network, timeout, 5xx."""


class IdentityStoreRefused(IdentityStoreUnavailable):
    """The Identity Store (or STS) refused a call: denied, or a value it rejects (``code``)."""

    def __init__(self, reason: str, code: str) -> None:
        super().__init__(reason)
        self.code = code


class ConfigurationError(Exception):
    """A configuration file is invalid; the message names file, line and field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems
