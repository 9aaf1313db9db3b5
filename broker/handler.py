"""The Lambda entry point: API Gateway (REST, proxy) events in, a page or a 302 out.

Thin on purpose: it reads the HTTP request, calls the login service, and maps
a typed result or a typed error to a response in one place. Every response
carries the security headers; no response ever contains a stack trace.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlencode

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayRestResolver, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.shared import constants as powertools_env
from aws_lambda_powertools.shared.cookies import Cookie, SameSite
from aws_lambda_powertools.shared.functions import resolve_truthy_env_var_choice

from broker import pages
from broker.aws import CONNECT_TIMEOUT_SECONDS
from broker.config import RoutingTable, Support
from broker.exceptions import (
    BrokerError,
    ChoiceCookieRefused,
    ChoiceInvalid,
    ContinuationCookieRefused,
    ContinuationInvalid,
    MalformedRequest,
    MethodNotAllowed,
    RequestTooLarge,
)
from broker.login import Landed, LoginResult, LoginService, Picking, SignInTrace
from broker.metadata import sp_metadata_xml
from broker.routing import routing_table_from_env
from broker.wiring import PICKER_SECONDS, BrokerSettings, build_login_service

SERVICE = "studio-broker"
CONTINUE_COOKIE = "__Host-studio-broker-continue"
HOLDING_RETRY_SECONDS = 3
CONTINUE_COOKIE_SECONDS = 300
# The team picker's token: its own cookie, so that a picker and a holding page never meet.
PICK_COOKIE = "__Host-studio-broker-pick"
PICK_COOKIE_SECONDS = PICKER_SECONDS  # as long as the picker's token lives
# What a single-use cookie (the holding page's, the picker's) holds once its sign-in landed:
# no token, and the same link followed later (Back) is "used", not a cookie the browser
# refused, which is what a deleted cookie would look like.
USED = "used"
# What a choice link may carry: the 128-bit choice value, base64url.
CHOICE = re.compile(r"[A-Za-z0-9_-]{22}")
# What the holding page's continue link may carry back: the first request's reference.
REFERENCE = re.compile(r"[A-Za-z0-9-]{1,64}")
METADATA_TYPE = "application/samlmetadata+xml"
API_GATEWAY_TIMEOUT_SECONDS = 29.0
# An AWS attempt's read timeout ends by the deadline, its connect timeout may not:
# the margin covers one connect timeout and the writing of the answer.
DEADLINE_MARGIN_SECONDS = CONNECT_TIMEOUT_SECONDS + 1.0
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
# RelayState is not signed: the only form accepted is a Studio landing hint (the
# LandingUri grammar, path segments of safe characters, none starting with a dot).
# The broker never redirects to it, so it can never become an open redirect.
RELAY_STATE = re.compile(
    r"(?:studio::|app:(?:JupyterServer|JupyterLab|RStudioServerPro|CodeEditor|Canvas):)"
    r"(?:[A-Za-z0-9_~-][A-Za-z0-9._~-]*(?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*)?"
)
RELAY_STATE_MAX = 256

logger = Logger(service=SERVICE)
NAMESPACE = "StudioBroker"
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def tracing_active() -> bool:
    """Whether Powertools would trace here: in a Lambda runtime, not SAM local or Chalice, not disabled.

    The same rule as ``Tracer``'s own. Outside it the Tracer is a no-op that still
    imports the X-Ray SDK, whose recorder (outside Lambda) builds a botocore
    session and two X-Ray clients: about 110 ms of cold start for nothing.
    """
    if resolve_truthy_env_var_choice(env=os.getenv(powertools_env.TRACER_DISABLED_ENV, "false")):
        return False
    in_lambda = bool(os.getenv(powertools_env.LAMBDA_TASK_ROOT_ENV))
    emulated = bool(os.getenv(powertools_env.SAM_LOCAL_ENV) or os.getenv(powertools_env.CHALICE_LOCAL_ENV))
    return in_lambda and not emulated


tracer: Tracer | None = Tracer(service=SERVICE) if tracing_active() else None
app = APIGatewayRestResolver()


def _traced(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The Tracer's handler segment where tracing is active; the handler itself elsewhere."""
    if tracer is None:
        return handler
    return tracer.capture_lambda_handler(handler, capture_response=False)


_service: LoginService | None = None


def login_service() -> LoginService:
    """The container's login service, built on first use."""
    global _service
    if _service is None:
        _service = build_login_service(routing_table_from_env(), BrokerSettings.from_env())
    return _service


def use_login_service(service: LoginService | None) -> None:
    """Replace (or with ``None`` reset) the container's login service: for tests and the local stack."""
    global _service
    _service = service


def _routing() -> RoutingTable:
    return login_service().routing


@app.post("/saml/acs")
def assertion_consumer() -> Response:
    """Receive the IdP's POSTed SAMLResponse."""
    started = time.perf_counter()
    try:
        saml_response = _saml_response_field(_routing().service_provider.max_body_bytes)
        result = login_service().sign_in(saml_response, _source_ip(), deadline=_deadline(),
                                         trace=SignInTrace(_correlation_id(), time.time()))
    except BrokerError as error:
        _record("Login", error.reason.split(":")[0], started, team=error.context.get("team"))
        raise
    _record("Login", type(result).__name__, started, team=result.team_id)
    return _respond(result)


@app.get("/saml/continue")
def resume_sign_in() -> Response:
    """The holding page's reload: continue with the single-use token from the cookie."""
    started = time.perf_counter()
    try:
        token = _token(CONTINUE_COOKIE, CONTINUE_COOKIE_SECONDS, ContinuationCookieRefused,
                       ContinuationInvalid, "continuation_cookie")
        result = login_service().resume(token, _source_ip(), deadline=_deadline())
    except BrokerError as error:
        _about_linked_sign_in(error)
        _record("Resume", error.reason.split(":")[0], started, team=error.context.get("team"))
        raise
    _record("Resume", type(result).__name__, started, team=result.team_id)
    return _respond(result)


@app.get("/saml/choose")
def choose_team() -> Response:
    """A team picker's link: the picker's single-use token from the cookie, the choice from the link."""
    started = time.perf_counter()
    try:
        query = app.current_event.query_string_parameters or {}
        choice = query.get("choice", "")
        if not CHOICE.fullmatch(choice):
            raise ChoiceInvalid("choice_malformed")
        token = _token(PICK_COOKIE, PICK_COOKIE_SECONDS, ChoiceCookieRefused, ChoiceInvalid,
                       "choice_cookie")
        result = login_service().choose(token, choice, _source_ip(), deadline=_deadline())
    except BrokerError as error:
        _about_linked_sign_in(error)
        _record("Choose", error.reason.split(":")[0], started, team=error.context.get("team"))
        raise
    _record("Choose", type(result).__name__, started, team=result.team_id)
    response = _respond(result)
    response.cookies.append(_cookie_of(PICK_COOKIE, USED, max_age=PICK_COOKIE_SECONDS))
    return response


@app.get("/saml/acs")
def acs_wrong_method() -> Response:
    """The ACS takes only POST; a GET is a bookmarked or forged link."""
    raise MethodNotAllowed("acs_method_not_post")


@app.get("/saml/metadata")
def metadata() -> Response:
    """SP metadata for the IdP: entity id, ACS URL, binding.

    A tool that asks for the SAML metadata type gets it; anyone else (a browser)
    gets the same document as ``application/xml``, which browsers display
    instead of downloading.
    """
    accept = (app.current_event.headers.get("accept") or "").lower()
    content_type = METADATA_TYPE if METADATA_TYPE in accept else "application/xml; charset=utf-8"
    headers = _headers()
    headers["Content-Disposition"] = 'inline; filename="studio-broker-metadata.xml"'
    return Response(200, content_type, sp_metadata_xml(_routing().service_provider), headers)


@app.route("/health", method=["GET", "HEAD"])
def health() -> Response:
    """Liveness: the routing table is loaded. HEAD answers the same, without a body."""
    teams = len(_routing().teams)
    body = "" if app.current_event.http_method == "HEAD" else f'{{"status":"ok","teams":{teams}}}'
    return Response(200, "application/json", body, _headers())


@app.not_found
def not_found(_: Exception) -> Response:
    """Unknown paths get the same page style, not the framework's JSON."""
    return _page(404, "Page not found", "There is no page at this address.",
                 "Open Studio from your access portal.", _help())


@app.exception_handler(BrokerError)
def broker_error(error: BrokerError) -> Response:
    """Every typed error: its status, its page, the reference; reason in the log."""
    logger.warning("sign-in refused", extra={
        "reason": error.reason, "status": error.status, "error": type(error).__name__,
        **error.context})
    headers = {}
    if error.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.retry_after_seconds)
    if error.allowed_methods is not None:
        headers["Allow"] = error.allowed_methods
    return _page(error.status, error.title, error.public_message, error.advice,
                 _help(error.context.get("team"), error.context.get("reference")),
                 offers_access_request=error.offers_access_request, headers=headers)


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    """Anything unforeseen: a 500 page with the reference, the traceback only in the log."""
    logger.exception("unexpected error", extra={"error": type(error).__name__})
    return _page(500, "Something went wrong", "The sign-in failed unexpectedly.",
                 "Open Studio again from your access portal. If it fails again, ask for help "
                 "and quote the reference below.", _help())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=False)
@_traced
@metrics.log_metrics(raise_on_empty_metrics=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """AWS Lambda entry point."""
    return app.resolve(event, context)


def _saml_response_field(max_body_bytes: int) -> str:
    event = app.current_event
    content_type = (event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != FORM_CONTENT_TYPE:
        raise MalformedRequest("content_type_not_form")
    raw = event.body or ""
    # Bound before decoding: a base64 body is a third larger than what it carries.
    if len(raw) > max_body_bytes * 4 // 3 + 4:
        raise RequestTooLarge("body_too_large")
    try:
        body = event.decoded_body or ""
        form = parse_qs(body, strict_parsing=True, max_num_fields=8)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedRequest("form_not_parseable") from error
    values = form.get("SAMLResponse", [])
    if len(values) != 1 or not values[0]:
        raise MalformedRequest("saml_response_field_missing_or_repeated")
    if len(values[0]) > max_body_bytes:
        raise RequestTooLarge("saml_response_too_large")
    _check_relay_state(form.get("RelayState", []))
    return values[0]


def _check_relay_state(values: list[str]) -> None:
    """Absent, or one Studio landing hint; anything else (a URL above all) is refused."""
    if not values:
        return
    if len(values) > 1 or len(values[0]) > RELAY_STATE_MAX or not RELAY_STATE.fullmatch(values[0]):
        raise MalformedRequest("relay_state_not_allowed")


def _deadline() -> float | None:
    """When this answer must be out (``time.monotonic()``): the Lambda's remaining time, or
    API Gateway's 29 s, whichever comes first, less a margin; ``None`` outside Lambda."""
    remaining = getattr(app.lambda_context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    budget = min(remaining() / 1000, API_GATEWAY_TIMEOUT_SECONDS) - DEADLINE_MARGIN_SECONDS
    return time.monotonic() + max(0.0, budget)


def _source_ip() -> str | None:
    """The client address as API Gateway saw it; X-Forwarded-For is client-controlled and ignored."""
    context = app.current_event.get("requestContext")
    identity = context.get("identity") if isinstance(context, dict) else None
    source_ip = identity.get("sourceIp") if isinstance(identity, dict) else None
    return source_ip if isinstance(source_ip, str) else None


def _cookie(name: str) -> str | None:
    """The value of cookie ``name``, read by hand.

    ``SimpleCookie`` drops every cookie of a header when any one is not strictly
    RFC-formed (``prefs={"a":1}`` set by another app on a parent domain), and a
    client may split cookies over several headers, which the REST event keeps
    only in ``multiValueHeaders``.
    """
    event = app.current_event
    headers = [value for key, values in (event.multi_value_headers or {}).items()
               if key.lower() == "cookie" for value in values or ()]
    if not headers and event.headers.get("cookie"):
        headers = [event.headers["cookie"]]
    for header in headers:
        for pair in header.split(";"):
            key, separator, value = pair.strip().partition("=")
            if separator and key == name:
                return value.strip()
    return None


def _token(name: str, lifetime_seconds: int, refused: type[ContinuationInvalid],
           gone: type[ContinuationInvalid], reason: str) -> str:
    """The single-use token in cookie ``name``, or why there is none: used (its sign-in landed),
    refused by the browser (set within its lifetime and not sent back), or long gone."""
    token = _cookie(name)
    if token == USED:
        raise gone(f"{reason}_used")
    if not token:
        raise (refused(f"{reason}_refused") if _cookie_set_lately(lifetime_seconds)
               else gone(f"{reason}_missing"))
    return token


def _about_linked_sign_in(error: BrokerError) -> None:
    """A token that is used up or gone still belongs to the sign-in the link names (``ref``)."""
    reference = (app.current_event.query_string_parameters or {}).get("ref", "")
    if REFERENCE.fullmatch(reference):
        error.about(reference=reference)


def _cookie_set_lately(lifetime_seconds: int) -> bool:
    """Whether the link followed says its cookie was set (``at``) within ``lifetime_seconds``.

    Unsigned, and used only to choose the explanation: a cookie set within its
    lifetime that did not come back was refused by the browser.
    """
    issued = (app.current_event.query_string_parameters or {}).get("at", "")
    return issued.isdigit() and 0 <= time.time() - int(issued) <= lifetime_seconds


def _respond(result: LoginResult) -> Response:
    if isinstance(result, Landed):
        headers = _headers()
        headers["Location"] = result.url
        return Response(302, "text/html; charset=utf-8", "", headers,
                        cookies=[_continue_cookie(USED, max_age=CONTINUE_COOKIE_SECONDS)])
    if isinstance(result, Picking):
        return _picker(result)
    now = time.time()
    reference = result.trace.reference or _correlation_id()
    continue_url = (_routing().service_provider.acs_url.rsplit("/acs", 1)[0]
                    + f"/continue?{urlencode({'ref': reference, 'at': int(now)})}")
    body = pages.holding_page(continue_url, HOLDING_RETRY_SECONDS, now - result.trace.started_at,
                              _help(result.team_id, reference))
    return Response(202, "text/html; charset=utf-8", body, _headers(),
                    cookies=[_continue_cookie(result.token, max_age=CONTINUE_COOKIE_SECONDS)])


def _picker(result: Picking) -> Response:
    """The team picker (200), its single-use token in a cookie only this site sees."""
    reference = result.trace.reference or _correlation_id()
    base = _routing().service_provider.acs_url.rsplit("/acs", 1)[0] + "/choose?"
    # ``at``: when the cookie was set, so that a missing cookie can be told from an old link.
    at = int(time.time())
    entries = [pages.PickerEntry(base + urlencode({"choice": c.value, "ref": reference, "at": at}),
                                 c.team.label, c.team.account_id, c.team.region)
               for c in result.choices]
    entries += [pages.PickerEntry(None, t.label, t.account_id, t.region,
                                  note=t.disabled_message or "") for t in result.unavailable]
    body = pages.picker_page(entries, _help(None, reference))
    return Response(200, "text/html; charset=utf-8", body, _headers(),
                    cookies=[_cookie_of(PICK_COOKIE, result.token, max_age=PICK_COOKIE_SECONDS)])


def _continue_cookie(value: str, max_age: int) -> Cookie:
    return _cookie_of(CONTINUE_COOKIE, value, max_age)


def _cookie_of(name: str, value: str, max_age: int) -> Cookie:
    return Cookie(name, value, path="/", secure=True, http_only=True,
                  max_age=max_age, same_site=SameSite.STRICT_MODE)


def _help(team_id: str | None = None, reference: str | None = None) -> pages.Help:
    """The reference and support a page shows; the team's only if ``team_id`` was verified.

    An error page must not fail because the container's wiring did: without a
    service, the page goes without the table's support.
    """
    try:
        routing: RoutingTable | None = login_service().routing
    except Exception:  # the wiring's own error is what the log and the 500 are about
        routing = None
    team = routing.team(team_id) if routing is not None and team_id else None
    support = routing.support_for(team) if routing is not None else Support()
    return pages.Help(reference or _correlation_id(), support, team.label if team else None)


def _page(status: int, title: str, message: str, advice: str, help: pages.Help, *,
          offers_access_request: bool = False, headers: dict[str, str] | None = None) -> Response:
    body = pages.error_page(title, message, advice, help, status=status,
                            offers_access_request=offers_access_request)
    return Response(status, "text/html; charset=utf-8", body, {**_headers(), **(headers or {})})


def _headers() -> dict[str, str]:
    return dict(pages.SECURITY_HEADERS)


def _correlation_id() -> str:
    return logger.get_correlation_id() or "unknown"


def _record(name: str, outcome: str, started: float, team: str | None) -> None:
    """One metric per sign-in by team and outcome, plus its latency; one log line."""
    with single_metric(name=name, unit=MetricUnit.Count, value=1, namespace=NAMESPACE) as metric:
        # A dimension only for a team of the table: a signed but unrouted team id is free text,
        # and every distinct value would be a new CloudWatch metric.
        metric.add_dimension("Team", (team if team in _routing().teams else "unrouted") if team
                             else "unverified")
        metric.add_dimension("Outcome", outcome)
    metrics.add_metric(name=f"{name}LatencyMs", unit=MetricUnit.Milliseconds,
                       value=(time.perf_counter() - started) * 1000)
    logger.info(name.lower(), extra={"outcome": outcome, "team": team or "unverified"})
