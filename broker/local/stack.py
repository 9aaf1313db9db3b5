"""The local stack in one process: emulator, spokes, dev IdP, broker over HTTP, Studio stand-in.

The spokes are made by ``broker rollout`` (:func:`broker.ops.rollout.apply`)
from ``accounts/`` and the routing table, the same code that deploys real
spokes, run against the emulator's StackSets from the hub account.

One HTTP server on loopback serves the dev IdP portal (``/``), the broker's
API paths through the API Gateway adapter (``/saml/...``, ``/health``) and the
Studio stand-in (``/studio/...``). The emulator is moto in server mode on its
own free port, in a thread of this process, so the stand-in can redeem the
presigned tokens it issued. boto3 reaches it through ``AWS_ENDPOINT_URL`` and
fake credentials set in this process's environment (restored on stop).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request

from broker.config import RoutingTable, Team
from broker.local.devidp import (
    LOCAL_ROUTING_NAME,
    DevIdp,
    load_users,
    signing_identity,
    write_local_routing,
)
from broker.local.http import LambdaProxy
from broker.local.identity_store import STUDIO_APPLICATION, add_to_local_routing, load_directory, seed
from broker.local.studio import PREFIX as STUDIO_PREFIX
from broker.local.studio import StudioStandIn, studio_base_url
from broker.ops import rollout
from broker.ops.accounts import AccountRegistry, load_accounts
from broker.ops.routing_source import load_routing_table
from broker.replay import create_table

LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
BROKER_PATHS = ("/saml/", "/health")
# The emulator's default credentials are the hub account's; the hub table lives here.
HUB_ACCOUNT_ID = "123456789012"
HUB_REGION = "us-east-1"
HUB_STACK_NAME = "studio-broker"  # broker doctor's default --stack-name
# The role AWS Organizations creates in every member account; the emulator lets anyone assume it.
ORGANIZATION_ROLE = "OrganizationAccountAccessRole"
Log = Callable[[str], None]
FIRST_TEAM = "first"


class StackStartError(Exception):
    """The stack could not be brought up (e.g. the spoke rollout failed); the message says why."""


@dataclass(frozen=True)
class ProvisionedSpoke:
    """A team's spoke as the rollout made it."""

    team_id: str
    account_id: str
    region: str
    domain_id: str
    execution_role_arn: str


@dataclass(frozen=True)
class StackOptions:
    """What ``broker serve`` and ``broker demo`` let a person choose."""

    host: str = "127.0.0.1"
    port: int = 8000
    routing: Path = Path("routing.yaml")
    users: Path = Path("local/users.yaml")
    accounts_dir: Path = Path("accounts")
    state_dir: Path = Path(".local-state")
    aws_endpoint: str | None = None
    table_name: str = "studio-broker-state"
    # A new profile stays Pending this long in the emulator; the broker waits
    # up to profile_wait_seconds before answering its holding page.
    profile_delay_seconds: float = 2.0
    profile_wait_seconds: float = 8.0
    # One team whose new profiles take this long instead (so the holding page is seen);
    # FIRST_TEAM: the routing table's first team.
    slow_team: str | None = None
    slow_team_delay_seconds: float = 20.0
    # The host name the dev IdP posts to (the routing's ACS URL); None means ``host``.
    # Another loopback name than ``host`` puts the ACS on another site than the portal,
    # as in AWS, where the Identity Center portal posts cross-site to the broker.
    acs_host: str | None = None


class _QuietRequestHandler(WSGIRequestHandler):
    """The router logs requests itself, in the stack's format."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class _Router:
    """Sends each request to the portal, the broker or the Studio stand-in."""

    portal: Any = None
    broker: Any = None
    studio: Any = None
    log: Log = field(default=lambda _: None)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        path = environ.get("PATH_INFO", "/")
        if path.startswith(BROKER_PATHS):
            return self.broker(environ, start_response)  # the proxy logs its own line
        app = self.studio if path.startswith(STUDIO_PREFIX + "/") else self.portal
        started = time.perf_counter()
        response = app.respond(Request(environ))
        where = "studio" if app is self.studio else "portal"
        self.log(f"{where} {environ['REQUEST_METHOD']} {path} -> {response.status_code} "
                 f"({(time.perf_counter() - started) * 1000:.0f} ms)")
        return response(environ, start_response)


@contextmanager
def _environment(values: dict[str, str | None]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    try:
        for name, value in values.items():
            _set_env(name, value)
        yield
    finally:
        for name, value in saved.items():
            _set_env(name, value)


def _set_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


class LocalStack:
    """Start with :meth:`start` (or ``with``), stop with :meth:`stop`; one per process at a time."""

    def __init__(self, options: StackOptions, log: Log = lambda _: None) -> None:
        self.options = options
        self.log = log
        self.base_url = ""
        self.broker_url = ""
        self.emulator_url = ""
        self.routing: RoutingTable | None = None
        self.spokes: list[ProvisionedSpoke] = []
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._emulator: Any = None
        self._env = ExitStack()
        self._handler_installed = False

    @property
    def portal_url(self) -> str:
        """The one URL a person opens."""
        return self.base_url + "/"

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        """Bring everything up; on any failure, take down what was started and re-raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        opts = self.options
        if opts.host not in LOOPBACK_HOSTS:
            # The dev IdP signs anything for anyone, and the ACS is plain http: loopback only.
            raise ValueError(f"the local stack serves only on loopback {LOOPBACK_HOSTS}, not {opts.host!r}")
        if opts.acs_host is not None and opts.acs_host not in LOOPBACK_HOSTS:
            raise ValueError(f"the ACS host must be loopback {LOOPBACK_HOSTS}, not {opts.acs_host!r}")
        source = load_routing_table(opts.routing, check_expiry=False)
        slow_team = next(iter(source.teams), None) if opts.slow_team == FIRST_TEAM else opts.slow_team
        if slow_team is not None and slow_team not in source.teams:
            raise ValueError(f"slow team {slow_team!r} is not in {opts.routing} "
                             f"(teams: {', '.join(source.teams)})")
        users = load_users(opts.users, source.teams)
        registry = load_accounts(opts.accounts_dir)
        rollout.check_configuration(registry, source)  # before anything starts
        router = _Router(log=self.log)
        self._server = make_server(opts.host, opts.port, router, threaded=True,
                                   request_handler=_QuietRequestHandler)
        self.base_url = f"http://{opts.host}:{self._server.server_port}"
        # One server answers both names: it listens on IPv4 loopback, where localhost resolves too.
        self.broker_url = f"http://{opts.acs_host or opts.host}:{self._server.server_port}"

        state = Path(opts.state_dir)
        keys = {app.name: signing_identity(state, app.name) for app in source.applications.values()}
        self.routing = write_local_routing(
            opts.routing, state / LOCAL_ROUTING_NAME, f"{self.broker_url}/saml/acs",
            {name: cert for name, (_, cert) in keys.items()}, portal_url=self.portal_url)
        self.log(f"routing: {state / LOCAL_ROUTING_NAME} (from {opts.routing}, dev IdP certificates)")
        directory = load_directory(opts.users, source.teams)
        if directory is not None:
            keys[STUDIO_APPLICATION] = signing_identity(state, STUDIO_APPLICATION)
            self.routing = add_to_local_routing(state / LOCAL_ROUTING_NAME, directory,
                                                keys[STUDIO_APPLICATION][1])

        self._start_emulator()
        self.spokes = self._provision(registry)
        if directory is not None:
            seed(directory, self.routing, boto3.Session(region_name=HUB_REGION))
            store = self.routing.identity_store
            assert store is not None
            self.log(f"identity store {store.identity_store_id}: {len(directory.members)} users, "
                     f"{len(directory.groups)} groups from {opts.users}")
        self._slow_down(slow_team, opts.slow_team_delay_seconds)
        self._install_broker()

        router.portal = DevIdp.for_applications(users, self.routing, keys)
        router.broker = LambdaProxy(_lambda_handler(), log=self.log)
        names = {spoke.domain_id: self.routing.teams[spoke.team_id].label for spoke in self.spokes}
        router.studio = StudioStandIn(_redeemer() if self._emulator else None, names, self.portal_url)
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-stack-http",
                                        daemon=True)
        self._thread.start()

    def _start_emulator(self) -> None:
        # Imported here: moto is a dev dependency, needed only by the local stack.
        from broker.emulator import settings
        from broker.emulator.server import start_server

        opts = self.options
        self._env.enter_context(_environment({
            "AWS_ENDPOINT_URL": opts.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": None,
            "AWS_PROFILE": None,
            "AWS_DEFAULT_REGION": HUB_REGION,
            "POWERTOOLS_METRICS_DISABLED": "true",
            # moto loads thousands of AMIs per EC2 region otherwise (about 1 s each).
            "MOTO_EC2_LOAD_DEFAULT_AMIS": "false",
        }))
        if opts.aws_endpoint:
            self.emulator_url = opts.aws_endpoint.rstrip("/")
            self.log(f"emulator: using {self.emulator_url} (its Studio URLs are its own setting)")
            return
        self._emulator, self.emulator_url = start_server("127.0.0.1", 0)
        os.environ["AWS_ENDPOINT_URL"] = self.emulator_url
        # The process's moto backends are shared: start from an empty emulator.
        urllib.request.urlopen(
            urllib.request.Request(f"{self.emulator_url}/moto-api/reset", method="POST"),
            timeout=10).close()
        settings.configure(studio_base_url=studio_base_url(self.base_url),
                           profile_delay_seconds=opts.profile_delay_seconds)
        self.log(f"emulator: {self.emulator_url} (in process)")

    def _slow_down(self, team_id: str | None, seconds: float) -> None:
        """Give ``team_id``'s new profiles a delay of their own (in-process emulator only)."""
        if team_id is None or self._emulator is None:
            return
        from broker.emulator import settings

        domains = {spoke.domain_id: seconds for spoke in self.spokes if spoke.team_id == team_id}
        settings.configure(profile_delay_by_domain=domains)
        self.log(f"emulator: new profiles of team {team_id} take {seconds:g} s, others "
                 f"{self.options.profile_delay_seconds:g} s")

    def _provision(self, registry: AccountRegistry) -> list[ProvisionedSpoke]:
        """Roll the spokes out as ``broker rollout apply`` would; create the hub's replay table."""
        from broker.aws import AwsClients

        assert self.routing is not None
        started = time.perf_counter()
        self.log(f"rollout: {registry.source}/ and {self.options.routing} -> StackSets of hub "
                 f"{HUB_ACCOUNT_ID} {registry.settings.hub_region}")
        summary = rollout.apply(AwsClients(), registry, self.routing,
                                progress=lambda line: self.log(f"rollout: {line}"), poll_seconds=0)
        if not summary.ok:
            failures = "\n".join(f"  {r.stack_set} {r.account} {r.region}: {r.action} {r.status}: "
                                  f"{r.reason or 'no reason given'}" for r in summary.failed)
            raise StackStartError(f"the spoke rollout failed ({len(summary.failed)} of "
                                  f"{len(summary.results)} stack instances):\n{failures}")
        changed = len(summary.changed)
        self.log(f"rollout: {len(summary.results)} stack instances ready, {changed} changed "
                 f"({time.perf_counter() - started:.1f} s)")
        create_table(boto3.client("dynamodb", region_name=HUB_REGION), self.options.table_name)
        self._hub_stack(registry)
        self.log(f"hub {HUB_ACCOUNT_ID}: table {self.options.table_name} and stack {HUB_STACK_NAME} ready")
        hub = boto3.Session(region_name=HUB_REGION)
        spokes = [_spoke_of(hub, registry, team) for team in self.routing.teams.values()]
        for spoke in spokes:
            self.log(f"spoke {spoke.account_id} {spoke.region}: team {spoke.team_id}, "
                     f"domain {spoke.domain_id}, role {spoke.execution_role_arn}")
        return spokes

    def _hub_stack(self, registry: AccountRegistry) -> None:
        """A stack with the hub's outputs, as ``sam deploy`` of template.yaml leaves them.

        The emulator has no SAM transform, so the broker itself runs in this process;
        the stack carries what ``broker doctor`` and operators read from the hub.
        """
        from broker.ops.hub_parameters import routing_digest

        assert self.routing is not None
        outputs = {
            "AcsUrl": self.routing.service_provider.acs_url,
            "SamlAudience": self.routing.service_provider.entity_id,
            "BrokerRoleArn": registry.settings.broker_role_arn,
            "ReplayTableName": self.options.table_name,
            "RoutingDigest": routing_digest((Path(self.options.state_dir) / LOCAL_ROUTING_NAME).read_bytes()),
        }
        template = {
            "Description": "The local stack's stand-in for the hub stack's outputs (template.yaml)",
            # A stack needs a resource; one that moto's CloudFormation knows.
            "Resources": {"Marker": {"Type": "AWS::SSM::Parameter", "Properties": {
                "Name": "/studio-broker/local-hub", "Type": "String", "Value": "local stand-in"}}},
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        boto3.client("cloudformation", region_name=HUB_REGION).create_stack(
            StackName=HUB_STACK_NAME, TemplateBody=json.dumps(template))

    def _install_broker(self) -> None:
        from broker import handler
        from broker.wiring import BrokerSettings, build_login_service

        assert self.routing is not None
        settings = BrokerSettings(table_name=self.options.table_name, table_region=HUB_REGION,
                                  profile_wait_seconds=self.options.profile_wait_seconds)
        service = build_login_service(self.routing, settings)
        service.profiles.poll_seconds = 0.1  # the emulator answers in milliseconds
        handler.use_login_service(service)
        self._handler_installed = True

    def stop(self) -> None:
        """Stop serving, stop the emulator, restore the environment; safe to call twice."""
        if self._server is not None:
            if self._thread is not None:
                self._server.shutdown()
                self._thread.join(timeout=5)
            self._server.server_close()
            self._server, self._thread = None, None
        if self._handler_installed:
            from broker import handler

            handler.use_login_service(None)
            self._handler_installed = False
        if self._emulator is not None:
            from broker.emulator import settings

            self._emulator.stop()
            settings.reset()
            self._emulator = None
        self._env.close()


def spoke_client(hub: boto3.Session, account_id: str, region: str) -> Callable[[str], Any]:
    """A maker of clients in a spoke account, as the organisation's admin role.

    The clients come from the hub session, which has already loaded the service models.
    """
    credentials = hub.client("sts", region_name=region).assume_role(
        RoleArn=f"arn:aws:iam::{account_id}:role/{ORGANIZATION_ROLE}",
        RoleSessionName="local-stack",
    )["Credentials"]

    def client(service: str) -> Any:
        return hub.client(
            service, region_name=region,
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["SessionToken"],
        )

    return client


def _spoke_of(hub: boto3.Session, registry: AccountRegistry, team: Team) -> ProvisionedSpoke:
    """The team's domain as the rollout made it; it must be the one routing.yaml names."""
    region = registry.accounts[team.account_id].region(team.region)
    assert region is not None  # rollout.check_configuration made sure
    sagemaker = spoke_client(hub, team.account_id, team.region)("sagemaker")
    domains = {d["DomainName"]: d["DomainId"] for d in sagemaker.list_domains()["Domains"]}
    domain_id = domains.get(region.domain_name)
    where = f"team {team.id}: account {team.account_id} {team.region}"
    if domain_id is None:
        raise StackStartError(f"{where}: the rollout made no domain {region.domain_name!r} "
                              f"(found {sorted(domains) or 'none'})")
    wanted = team.domain.domain_id
    if wanted and wanted != domain_id:
        raise StackStartError(f"{where}: the rollout made domain {region.domain_name!r} with id "
                              f"{domain_id}, but routing.yaml expects {wanted}")
    return ProvisionedSpoke(team.id, team.account_id, team.region, domain_id, team.execution_role_arn)


def _lambda_handler() -> Any:
    from broker.handler import lambda_handler

    return lambda_handler


def _redeemer() -> Any:
    from broker.emulator import redeem_presigned_token

    return redeem_presigned_token


def quiet_http_logs() -> None:
    """Silence werkzeug's per-request lines (the emulator's AWS calls would drown the stack's)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
