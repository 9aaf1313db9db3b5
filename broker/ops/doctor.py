"""``broker doctor``: every link of the sign-in chain checked read-only, each failure with its fix.

The links, in the order a sign-in meets them:

1. the routing table loads (else nothing else is worth checking);
2. each application's certificates: expiry, key, signature algorithm (offline);
3. the hub stack: it exists and is complete, its outputs agree with the table
   (``AcsUrl`` = ``acs_url``, ``SamlAudience`` = ``entity_id``) and with the
   registry (``BrokerRoleArn`` = ``hub.broker_role_arn``; ``ReconcileRoleArn`` =
   ``hub.reconcile_role_arn`` and the ``ReconcileSpokeRoleName`` parameter =
   ``hub.reconcile_role_name``, the role the spokes get for the reconcile job),
   its replay table is ACTIVE;
4. each team, in its spoke (through an administrative role the operator may
   assume there, ``--spoke-role``): the domain exists, is InService, uses IAM
   auth and the network mode of the registry; the execution role exists,
   trusts SageMaker and carries the team's ``Team`` tag; the broker-access role
   exists and trusts exactly the hub's broker role with the table's ExternalId.

Nothing is created or changed anywhere. What the emulator cannot show (IAM
evaluation) stays unverified here; ``tests/policies`` evaluates the policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from broker import arns
from broker.aws import AwsClients, session_credentials
from broker.config import RoutingTable, Team
from broker.ops.accounts import AccountRegistry, RolloutSettings

OK, WARN, FAIL = "ok", "warn", "fail"
CERT_WARNING_DAYS = 30


@dataclass(frozen=True)
class Check:
    """One link checked: what, where, how it stands, and the fix when it is not ok."""

    check: str
    subject: str
    status: str
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class DoctorOptions:
    """Where the hub is and how to look into the spokes."""

    stack_name: str = "studio-broker"
    spoke_role: str = "OrganizationAccountAccessRole"
    now: datetime | None = None
    routing_digest: str | None = None  # of the table being checked; None: not compared


def examine(clients: AwsClients, table: RoutingTable, registry: AccountRegistry,
            options: DoctorOptions) -> list[Check]:
    """Every check, in sign-in order."""
    now = options.now or datetime.now(UTC)
    checks = list(certificate_checks(table, now))
    checks += hub_checks(clients, table, registry, options.stack_name, options.routing_digest)
    for team in sorted(table.teams.values(), key=lambda t: t.id):
        checks += team_checks(clients, table, registry, team, options.spoke_role)
    return checks


def certificate_checks(table: RoutingTable, now: datetime) -> Iterator[Check]:
    """Expiry, key and signature algorithm of every application's certificates."""
    for app in sorted(table.applications.values(), key=lambda a: a.name):
        for index, pem in enumerate(app.certificates):
            subject = f"application {app.name} certificate {index}"
            cert = x509.load_pem_x509_certificate(pem.encode())
            yield _expiry(subject, cert, now)
            yield _key(subject, cert)


def _expiry(subject: str, cert: x509.Certificate, now: datetime) -> Check:
    days = (cert.not_valid_after_utc - now).days
    fix = ("in Identity Center add a new certificate to the application, then "
           "`broker routing add-application --metadata FILE` and deploy (docs/security.md, rotation)")
    if cert.not_valid_after_utc <= now:
        return Check("certificate-expiry", subject, FAIL,
                     f"expired on {cert.not_valid_after_utc:%Y-%m-%d}: every sign-in fails", fix)
    if days < CERT_WARNING_DAYS:
        return Check("certificate-expiry", subject, WARN, f"expires in {days} days", fix)
    return Check("certificate-expiry", subject, OK, f"valid for {days} more days")


def _key(subject: str, cert: x509.Certificate) -> Check:
    key, algorithm = cert.public_key(), cert.signature_hash_algorithm
    described = f"{type(key).__name__.removeprefix('_')}"
    strong = ((isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048)
              or (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size >= 256))
    if isinstance(key, rsa.RSAPublicKey):
        described = f"RSA {key.key_size}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        described = f"EC {key.curve.name}"
    hashed = algorithm.name if algorithm else "none"
    if not strong or hashed in ("sha1", "md5", "none"):
        return Check("certificate-key", subject, FAIL, f"{described}, signed with {hashed}",
                     "make a SHA-256 certificate with an RSA 2048+ key in Identity Center and rotate to it")
    return Check("certificate-key", subject, OK, f"{described}, signed with {hashed}")


def hub_checks(clients: AwsClients, table: RoutingTable, registry: AccountRegistry,
               stack_name: str, routing_digest: str | None = None) -> list[Check]:
    """The hub stack, its outputs against the table and registry, and its replay table."""
    region = registry.settings.hub_region
    subject = f"hub stack {stack_name} ({region})"
    try:
        stack = clients.hub("cloudformation", region).describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if _code(error) != "ValidationError":  # CloudFormation's answer for a stack that is not there
            raise
        return [Check("hub-stack", subject, FAIL, "does not exist",
                      "deploy the hub (docs/deployment.md, 1), or pass --stack-name")]
    status = stack["StackStatus"]
    if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
        return [Check("hub-stack", subject, FAIL, f"status {status}",
                      "see the stack's events in CloudFormation, fix, and deploy again")]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    checks = [Check("hub-stack", subject, OK, status)]
    sp = table.service_provider
    checks.append(_equal("hub-acs-url", subject, outputs.get("AcsUrl"), sp.acs_url,
                         "routing.yaml service_provider.acs_url",
                         f"set service_provider.acs_url to {outputs.get('AcsUrl')} and deploy the hub; "
                         "Identity Center's 'Application ACS URL' must be the same"))
    checks.append(_equal("hub-audience", subject, outputs.get("SamlAudience"), sp.entity_id,
                         "routing.yaml service_provider.entity_id",
                         "deploy the hub with --parameter-overrides $(broker routing hub-parameters)"))
    checks.append(_equal("hub-broker-role", subject, outputs.get("BrokerRoleArn"),
                         registry.settings.broker_role_arn, "accounts/rollout.yaml hub.broker_role_arn",
                         f"set hub.broker_role_arn to {outputs.get('BrokerRoleArn')}, "
                         "then broker rollout apply"))
    checks += _reconcile_role(subject, stack, outputs, registry.settings)
    checks.append(_replay_table(clients, region, outputs.get("ReplayTableName")))
    if routing_digest is not None:
        checks.append(_deployed_table(subject, outputs.get("RoutingDigest"), routing_digest))
    return checks


def _reconcile_role(subject: str, stack: dict[str, Any], outputs: dict[str, str],
                    settings: RolloutSettings) -> list[Check]:
    """The reconcile job's role as the spokes know it: they trust ``hub.reconcile_role_arn`` and
    name their role ``hub.reconcile_role_name``, which the hub's job may assume."""
    deployed = outputs.get("ReconcileRoleArn")
    if deployed is None:  # a hub from before the reconcile job
        return []
    fix = f"set hub.reconcile_role_arn to {deployed} in accounts/rollout.yaml, then broker rollout apply"
    if not settings.reconcile_role_arn:
        checks = [Check("hub-reconcile-role", subject, WARN,
                        "accounts/rollout.yaml has no hub.reconcile_role_arn: no spoke has the reconcile "
                        "role, so the scheduled job surveys no team", fix)]
    else:
        checks = [_equal("hub-reconcile-role", subject, deployed, settings.reconcile_role_arn,
                         "accounts/rollout.yaml hub.reconcile_role_arn", fix)]
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
    if "ReconcileSpokeRoleName" in parameters:
        checks.append(_equal("hub-reconcile-role-name", subject, parameters["ReconcileSpokeRoleName"],
                             settings.reconcile_role_name, "accounts/rollout.yaml hub.reconcile_role_name",
                             "deploy the hub with --parameter-overrides $(broker routing hub-parameters)"))
    return checks


def _deployed_table(subject: str, deployed: str | None, wanted: str) -> Check:
    deploy = ("make package && sam deploy --parameter-overrides $(broker routing hub-parameters): the "
              "broker ships the table it was packaged with")
    if not deployed:
        return Check("hub-routing-table", subject, WARN,
                     "the stack does not say which routing.yaml it runs (deployed without RoutingDigest)",
                     deploy)
    if deployed != wanted:
        return Check("hub-routing-table", subject, FAIL,
                     f"the hub runs another routing.yaml (digest {deployed[:12]}, this one {wanted[:12]}): "
                     "a merged change is not deployed, or this checkout is not main", deploy)
    return Check("hub-routing-table", subject, OK, f"runs this routing.yaml ({wanted[:12]})")


def _equal(check: str, subject: str, deployed: str | None, wanted: str, where: str, fix: str) -> Check:
    if deployed == wanted:
        return Check(check, subject, OK, f"{deployed}")
    return Check(check, subject, FAIL, f"the stack says {deployed!r}, {where} says {wanted!r}", fix)


def _replay_table(clients: AwsClients, region: str, name: str | None) -> Check:
    subject = f"replay table {name} ({region})"
    if not name:
        return Check("hub-replay-table", subject, FAIL, "the stack has no ReplayTableName output",
                     "deploy the hub from this repository's template.yaml")
    try:
        status = clients.hub("dynamodb", region).describe_table(TableName=name)["Table"]["TableStatus"]
    except ClientError as error:
        if _code(error) != "ResourceNotFoundException":
            raise
        return Check("hub-replay-table", subject, FAIL, "does not exist: every sign-in fails closed (503)",
                     "a redeploy does not re-make a table deleted by hand: restore it under the same name "
                     "from its deletion backup (point-in-time recovery is on), or create it again (key pk, "
                     "string; TTL on expires_at)")
    if status != "ACTIVE":
        return Check("hub-replay-table", subject, WARN, f"status {status}")
    return Check("hub-replay-table", subject, OK, status)


def team_checks(clients: AwsClients, table: RoutingTable, registry: AccountRegistry, team: Team,
                spoke_role: str) -> list[Check]:
    """Domain, execution role and broker-access role of one team, seen from inside its spoke."""
    subject = f"team {team.id} ({team.account_id} {team.region})"
    role_arn = arns.role_arn(team.region, team.account_id, spoke_role)
    try:
        issued = clients.hub("sts", team.region).assume_role(
            RoleArn=role_arn, RoleSessionName="studio-broker-doctor")["Credentials"]
    except ClientError as error:
        return [Check("spoke-reachable", subject, FAIL, f"cannot assume {role_arn} ({_code(error)})",
                      "run from an account that may assume it (the management account for "
                      "OrganizationAccountAccessRole), or pass --spoke-role")]
    credentials = session_credentials(
        issued["AccessKeyId"], issued["SecretAccessKey"], issued["SessionToken"])

    def client(service: str) -> Any:
        return clients.acting(service, team.region, credentials)

    account = registry.accounts.get(team.account_id)
    expected_network = next((r.app_network_access_type for r in (account.regions if account else ())
                             if r.region == team.region), "VpcOnly")
    return [
        _domain(client("sagemaker"), subject, team, expected_network),
        _execution_role(client("iam"), subject, team),
        _broker_access_role(client("iam"), subject, team, registry.settings.broker_role_arn),
    ]


def _domain(sagemaker: Any, subject: str, team: Team, network: str) -> Check:
    domain_id = team.domain.domain_id
    if domain_id is None:
        listed = sagemaker.list_domains().get("Domains", [])
        domain_id = next((d["DomainId"] for d in listed if d["DomainName"] == team.domain.name), None)
    if domain_id is None:
        return Check("domain", subject, FAIL, f"no domain named {team.domain.name!r}",
                     "broker rollout apply (the domain StackSet), or fix teams[].domain in routing.yaml")
    try:
        domain = sagemaker.describe_domain(DomainId=domain_id)
    except ClientError as error:
        if _code(error) not in ("ResourceNotFound", "ValidationException"):  # moto says the latter
            raise
        return Check("domain", subject, FAIL, f"{domain_id} does not exist",
                     "broker rollout apply re-creates it (profiles and home directories are gone)")
    problems = [f"{key} is {domain.get(key)}, expected {wanted}" for key, wanted in (
        ("Status", "InService"), ("AuthMode", "IAM"), ("AppNetworkAccessType", network))
        if domain.get(key) != wanted]
    if problems:
        return Check("domain", subject, FAIL, f"{domain_id}: " + "; ".join(problems),
                     "broker rollout status shows CloudFormation's reason; broker rollout drift --detect "
                     "finds changes made by hand")
    return Check("domain", subject, OK, f"{domain_id} InService, IAM auth, {network}")


def _execution_role(iam: Any, subject: str, team: Team) -> Check:
    name = team.execution_role_arn.rsplit("/", 1)[1]
    role = _role(iam, name)
    if role is None:
        return Check("execution-role", subject, FAIL, f"{name} does not exist",
                     "broker rollout apply (the team-roles StackSet makes it)")
    problems = []
    if "sagemaker.amazonaws.com" not in json.dumps(_document(role["AssumeRolePolicyDocument"])):
        problems.append("its trust policy does not name sagemaker.amazonaws.com")
    tags = {t["Key"]: t["Value"] for t in role.get("Tags", [])}
    if tags.get("Team") != team.id:
        problems.append(f"tag Team is {tags.get('Team')!r}, expected {team.id!r}")
    if problems:
        return Check("execution-role", subject, FAIL, f"{name}: " + "; ".join(problems),
                     "broker rollout drift --detect, then broker rollout apply puts the role back")
    return Check("execution-role", subject, OK, f"{name} trusts SageMaker, Team={team.id}")


def _broker_access_role(iam: Any, subject: str, team: Team, hub_role: str) -> Check:
    name = team.spoke_access.role_name
    role = _role(iam, name)
    if role is None:
        return Check("broker-access-role", subject, FAIL, f"{name} does not exist: every sign-in gets 502",
                     "broker rollout apply (the access StackSet makes it)")
    statements = _document(role["AssumeRolePolicyDocument"]).get("Statement", [])
    assume = [s for s in statements if _actions(s) & {"sts:AssumeRole"} and s.get("Effect") == "Allow"]
    principals = {p for s in assume for p in _listed(s.get("Principal", {}).get("AWS"))}
    external_ids = {e for s in assume
                    for e in _listed(s.get("Condition", {}).get("StringEquals", {}).get("sts:ExternalId"))}
    problems = []
    if principals != {hub_role}:
        problems.append(f"trusted principals are {sorted(principals)}, expected [{hub_role!r}]")
    if external_ids != {team.spoke_access.external_id}:
        problems.append("its ExternalId is not routing.yaml's spoke_access.external_id")
    if problems:
        return Check("broker-access-role", subject, FAIL, f"{name}: " + "; ".join(problems),
                     "broker rollout apply with this repository's accounts/ and routing.yaml")
    return Check("broker-access-role", subject, OK, f"{name} trusts {hub_role} with the ExternalId")


def _role(iam: Any, name: str) -> dict[str, Any] | None:
    """The role called ``name``, ``None`` if there is none."""
    try:
        return dict(iam.get_role(RoleName=name)["Role"])
    except ClientError as error:
        if _code(error) != "NoSuchEntity":
            raise
        return None


def _document(policy: Any) -> dict[str, Any]:
    from urllib.parse import unquote

    if isinstance(policy, str):  # IAM returns it URL-encoded in the raw API
        return json.loads(unquote(policy))
    return dict(policy)


def _actions(statement: dict[str, Any]) -> set[str]:
    return set(_listed(statement.get("Action")))


def _listed(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def worst(checks: Iterable[Check]) -> str:
    """``fail`` if any check failed, else ``warn`` if any warned, else ``ok``."""
    statuses = {c.status for c in checks}
    return FAIL if FAIL in statuses else WARN if WARN in statuses else OK


def render_text(checks: list[Check]) -> str:
    """A table a person reads: status, check, subject, detail; the fix under each failure."""
    width = max((len(c.check) for c in checks), default=5)
    lines = []
    for c in checks:
        lines.append(f"{c.status.upper():4}  {c.check:<{width}}  {c.subject}: {c.detail}")
        if c.fix and c.status != OK:
            lines.append(f"{'':4}  {'':<{width}}  fix: {c.fix}")
    counts = {s: sum(c.status == s for c in checks) for s in (OK, WARN, FAIL)}
    lines.append(f"{counts[OK]} ok, {counts[WARN]} warnings, {counts[FAIL]} failed")
    return "\n".join(lines)


def render_json(checks: list[Check]) -> str:
    return json.dumps({"status": worst(checks), "checks": [asdict(c) for c in checks]}, indent=2)

