"""Strict validation of an IAM Identity Center SAML Response into a verified :class:`Identity`.

Order of work, cheapest and least trusting first:

1. bound the size, decode base64, parse once with python3-saml's hardened
   parser (400/413 on failure);
2. read the outer shape: Status Success, exactly one plain Assertion, one
   issuer shared by Response and Assertion, naming a configured application;
3. our exact checks on that tree (Destination, Audience, bearer Recipient,
   no InResponseTo: IdP-initiated only, every time on the injected clock
   with our skew), and the signature
   profile (one Reference to its parent, c14n and enveloped transforms only,
   allowlisted algorithms: xmlsec never runs an attacker's XSLT);
4. python3-saml strict validation of the same tree with only that
   application's certificates (signature, wrapping rules, schema, SHA-1);
5. read user and team from the now-verified assertion, and bind the team to
   the application (403 when the application may not route to it); an
   application routed by membership names no team: its team attribute is not
   read, and the login service asks the Identity Store.

Clocks: our checks use the injected ``clock``. python3-saml also checks
Conditions (with its fixed 300 s drift), SubjectConfirmationData (no drift)
and SessionNotOnOrAfter against its own wall clock; in production both are
the wall clock, so the effective rule is the stricter of the two. Tests build
responses relative to real time and change only our clock, never python3-saml's.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from onelogin.saml2.settings import OneLogin_Saml2_Settings

from broker.config import IdpApplication, RoutingTable, ServiceProvider
from broker.exceptions import NotAuthorised, SignInRejected
from broker.saml import checks, speedups, toolkit
from broker.saml.document import ResponseDocument, decode_response
from broker.saml.signature_profile import check_signature_profile
from broker.spokes import source_identity


@dataclass(frozen=True)
class Identity:
    """A person and team taken from a verified assertion.

    ``user_id`` and ``team_id`` are the exact text of the signed ``userid`` and
    ``teamid`` attributes (names configurable). The Subject's NameID is not
    read: Identity Center fills it from its own mapping, which need not be the
    user id, so it must never stand for the person anywhere.

    ``not_on_or_after`` (epoch seconds) is the earliest of the Conditions and
    the bearer SubjectConfirmationData NotOnOrAfter: keep ``assertion_id`` in
    the replay cache at least until then plus the clock skew.
    """

    user_id: str
    team_id: str
    issuer: str
    application: str
    assertion_id: str
    not_on_or_after: float
    # The application routes by Identity Store membership: ``team_id`` is "" (not read).
    by_membership: bool = False


class SamlValidator:
    """Validates posted SAMLResponses against the service provider and trusted applications."""

    def __init__(
        self,
        config: RoutingTable | ServiceProvider,
        applications: Mapping[str, IdpApplication] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Build from a RoutingTable, or from a ServiceProvider and applications by issuer."""
        if isinstance(config, RoutingTable):
            sp, applications = config.service_provider, config.applications
        else:
            sp = config
        if applications is None:
            raise TypeError("applications are required with a ServiceProvider")
        self.service_provider = sp
        self.clock = clock
        self._applications = {app.issuer: app for app in applications.values()}
        for app in self._applications.values():
            if not app.certificates:  # fail at start-up, not at someone's sign-in
                raise ValueError(f"application {app.name!r} has no signing certificate")
        # python3-saml settings cost ~0.2 ms per application: built on an
        # application's first sign-in, so 10,000 teams do not slow a cold start.
        self._settings: dict[str, OneLogin_Saml2_Settings] = {}
        self._settings_lock = threading.Lock()
        speedups.install()

    def validate(self, saml_response_b64: str) -> Identity:
        """The verified identity in a base64 SAMLResponse, or a typed BrokerError."""
        sp = self.service_provider
        xml = decode_response(saml_response_b64, sp.max_body_bytes)
        document = ResponseDocument.from_xml(xml)
        issuer = document.issuer()
        application = self._applications.get(issuer)
        if application is None:
            raise SignInRejected("unknown_issuer")

        checks.check_destination(document, sp)
        checks.check_audience(document.assertion, sp)
        confirmation = checks.bearer_confirmation(document.assertion, sp)
        checks.check_unsolicited(document, confirmation)
        not_on_or_after = checks.check_times(document, confirmation, sp, self.clock())

        # Before xmlsec sees it: xmlsec runs Reference transforms before it checks the signature.
        check_signature_profile(document)
        toolkit.verify(self._settings_for(application), xml, document.root, sp.acs_url)

        # Only now is the tree known to be what the application signed.
        assertion = document.assertion
        try:
            user_id = checks.single_attribute(assertion, sp.attributes.user, "user")
            team_id = ("" if application.by_membership
                       else checks.single_attribute(assertion, sp.attributes.team, "team"))
        except NotAuthorised as error:
            raise error.about(application=application.name) from None
        if not application.by_membership and team_id not in application.teams:
            raise NotAuthorised("team_not_bound_to_application").about(
                application=application.name, team=team_id, user=source_identity(user_id))
        assertion_id = assertion.get("ID")
        if not assertion_id:  # the schema requires it; python3-saml checked the schema
            raise SignInRejected("assertion_id_missing")
        return Identity(
            user_id=user_id,
            team_id=team_id,
            issuer=issuer,
            application=application.name,
            assertion_id=assertion_id,
            not_on_or_after=not_on_or_after,
            by_membership=application.by_membership,
        )

    def _settings_for(self, application: IdpApplication) -> OneLogin_Saml2_Settings:
        settings = self._settings.get(application.issuer)
        if settings is None:
            with self._settings_lock:
                settings = self._settings.get(application.issuer)
                if settings is None:
                    settings = toolkit.settings_for(self.service_provider, application)
                    self._settings[application.issuer] = settings
        return settings
