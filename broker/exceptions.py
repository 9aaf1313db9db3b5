"""Every error a person signing in can meet, each with its HTTP status.

The handler maps these to a page in one place. ``public_message`` is shown to
the person (never internals); ``reason`` is a short machine-readable cause for
logs and metrics, and must never contain a SAMLResponse or credentials.
"""

from __future__ import annotations


class BrokerError(Exception):
    """Base of all user-facing errors."""

    status: int = 500
    title: str = "Sign-in failed"
    public_message: str = "The sign-in could not be completed."

    def __init__(self, reason: str, public_message: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if public_message is not None:
            self.public_message = public_message
        # Who and what, once a signature has been verified: for the log line, never the page.
        self.context: dict[str, str] = {}

    def about(self, **context: str) -> BrokerError:
        """Add verified facts (application, user, team) for the log; earlier facts win."""
        for key, value in context.items():
            self.context.setdefault(key, value)
        return self


class MalformedRequest(BrokerError):
    """The request is not a well-formed SAML POST (400)."""

    status = 400
    title = "Bad request"
    public_message = "The sign-in request was malformed. Start again from your SSO portal."


class RequestTooLarge(MalformedRequest):
    """The body is over the configured bound (413)."""

    status = 413
    title = "Request too large"


class MethodNotAllowed(MalformedRequest):
    """The ACS takes only POST (405)."""

    status = 405
    title = "Method not allowed"


class SignInRejected(BrokerError):
    """The SAML response did not pass validation (401)."""

    status = 401
    title = "Sign-in refused"
    public_message = (
        "Your sign-in could not be verified. Start again from your SSO portal; "
        "if this keeps happening, contact the platform team with the reference below."
    )


class ReplayDetected(SignInRejected):
    """The assertion was already used (401)."""

    public_message = (
        "This sign-in was already used. Open the application again from your SSO portal."
    )


class NotAuthorised(BrokerError):
    """The verified person or application may not use this team (403)."""

    status = 403
    title = "Access denied"
    public_message = "You do not have access to this team's Studio."


class UnknownTeam(BrokerError):
    """The team is not in the routing table (404)."""

    status = 404
    title = "Unknown team"
    public_message = "This team is not set up in the Studio broker."


class TeamDisabled(BrokerError):
    """The team's kill switch is on (503)."""

    status = 503
    title = "Temporarily unavailable"
    public_message = "This team's Studio is temporarily unavailable."


class ProfileNotReady(BrokerError):
    """The user profile is in a state that cannot be used now (409)."""

    status = 409
    title = "Studio profile unavailable"
    public_message = (
        "Your Studio profile for this team is not usable right now. "
        "Contact the platform team with the reference below."
    )


class ProfileGone(ProfileNotReady):
    """The spoke says a profile cached as InService no longer exists (409)."""


class SpokeFailure(BrokerError):
    """The spoke account refused or failed a call (502)."""

    status = 502
    title = "Studio unavailable"
    public_message = (
        "The broker could not reach your team's Studio account. Wait a minute, then open "
        "Studio again from your SSO portal (reloading this page cannot work: a sign-in is used "
        "once). If it keeps failing, contact the platform team with the reference below."
    )


class ContinuationInvalid(BrokerError):
    """The holding page's continuation is missing, expired or already used (400)."""

    status = 400
    title = "Sign-in expired"
    public_message = "This sign-in has expired. Open the application again from your SSO portal."


class BrokerUnavailable(BrokerError):
    """A hub-side dependency (the replay and continuation table) failed (503).

    Fail closed: when replay state cannot be checked or written, the sign-in is refused.
    """

    status = 503
    title = "Temporarily unavailable"
    public_message = (
        "The sign-in service is temporarily unavailable. Wait a minute, then open Studio again "
        "from your SSO portal (reloading this page cannot work: a sign-in is used once). "
        "If it keeps failing, contact the platform team with the reference below."
    )


class IdentityStoreUnavailable(BrokerError):
    """The Identity Store could not say who is in which group (503); ``reason`` says why.

    Fail closed: without an answer nobody is let into a team by membership, and
    reconcile deletes nothing.
    """

    status = 503
    title = "Temporarily unavailable"
    public_message = (
        "The sign-in service cannot check your team memberships right now. Wait a minute, then "
        "open Studio again from your SSO portal. If it keeps failing, contact the platform team "
        "with the reference below."
    )


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
