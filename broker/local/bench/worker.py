"""One broker process of the benchmark: a Lambda container signing people in, measured.

``python -P .../worker.py JOB.json RESULT.json`` (``PYTHONPATH``: the tree
whose broker is measured) runs the job's phases in order through the real
handler (:func:`broker.handler.lambda_handler` with API Gateway events),
wired exactly as the Lambda wires itself
(:func:`broker.wiring.build_login_service` on the routing table loaded by
:func:`broker.routing.routing_table_from_env`). Each phase's responses are
signed before its clock starts, so only the broker's work is measured:
``time.process_time`` (this process's CPU, every thread), wall time per
login, and AWS calls counted on botocore's events. A phase with
``latency_cycle_ms`` [0, D1, D2, ...] gives its n-th login the n-th latency of
the cycle (round robin), added to every HTTP attempt in the thread that makes
it (a sleep on ``before-send``, as a network round trip would wait), so
overlapped calls show as about 1 x D and sequential ones as 2 x D. The parent
sends stdout (the handler's log lines and metrics) to /dev/null; results go to
a file.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from broker.local.bench.landscape import BENCH_ACS_URL, BENCH_ENTITY_ID, acs_event


def parse_and_verify(response: str, cert_pem: str) -> Callable[[], None]:
    """The least any validator must do: base64-decode, parse (python3-saml's hardened parser)
    and verify the assertion's signature with xmlsec; the application's key is loaded once,
    as a validator could keep it."""
    import base64

    import xmlsec
    from onelogin.saml2.constants import OneLogin_Saml2_Constants as Ns
    from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

    key = xmlsec.Key.from_memory(cert_pem.encode(), xmlsec.constants.KeyDataFormatCertPem)

    def verify() -> None:
        root = OneLogin_Saml2_XML.to_etree(base64.b64decode(response))
        assertion = root.find(f"{{{Ns.NS_SAML}}}Assertion")
        signature = assertion.find(f"{{{Ns.NS_DS}}}Signature")
        xmlsec.tree.add_ids(assertion, ["ID"])
        context = xmlsec.SignatureContext()
        context.key = key
        context.verify(signature)  # raises when the signature does not verify

    return verify


@dataclass(frozen=True)
class LambdaContext:
    """The fields of a Lambda context that the handler's decorators read."""

    function_name: str = "studio-broker-bench"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:studio-broker-bench"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"


class CallCounter:
    """AWS calls by ``service.Operation`` (one per API call) and HTTP attempts (retries show here)."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.attempts = 0

    def on_call(self, event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        self.calls[f"{service}.{operation}"] += 1

    def on_send(self, **_: Any) -> None:
        self.attempts += 1

    def reset(self) -> None:
        self.calls.clear()
        self.attempts = 0


class InjectedLatency:
    """``before-send``: wait ``seconds`` before each HTTP attempt, in the calling thread.

    Each wait is recorded (start, end), so a login's time spent waiting on the
    network is the union of its waits: 2 x D for two calls one after the
    other, about 1 x D for overlapped ones, whatever else the machine does.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self.waits: list[tuple[float, float]] = []

    def __call__(self, **_: Any) -> None:
        if self.seconds:
            started = time.perf_counter()
            time.sleep(self.seconds)
            self.waits.append((started, time.perf_counter()))  # atomic: safe from any thread

    def waited_ms(self) -> float:
        """How long, in ms, at least one thread was waiting since the last call; then forget."""
        total, reach = 0.0, float("-inf")
        for start, end in sorted(self.waits):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        self.waits.clear()
        return total * 1000


def _status_kb(field: str) -> int | None:
    """A ``VmXXX:`` figure of /proc/self/status in KiB; ``None`` where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_kb() -> int:
    """Peak resident memory of this program so far, in KiB.

    Linux's ``VmHWM`` starts afresh at exec; ``ru_maxrss`` (the fallback
    elsewhere) also carries the forking parent's peak across exec.
    """
    peak = _status_kb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def rss_kb() -> int:
    """Resident memory of this program now (``VmRSS``), in KiB; 0 where /proc is missing."""
    return _status_kb("VmRSS") or 0


def wait_for(path: str, timeout: float = 120.0) -> None:
    """Block until ``path`` exists (the parent's start signal)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no start signal at {path}")
        time.sleep(0.005)


class Worker:
    """Holds the login services (one per routing table) and runs phases."""

    def __init__(self, job: dict[str, Any]) -> None:
        from broker.local.idp import SamlIdentityProvider

        self.job = job
        self.counter = CallCounter()
        self.latency = InjectedLatency()
        self.services: dict[str, Any] = {}
        self.floor_rounds = 0  # replay keys of the floor's PutItems stay unique across blocks
        self.loads: dict[str, dict[str, float]] = {}
        self.idps = {
            team: SamlIdentityProvider(spec["issuer"], spec["key_pem"], spec["cert_pem"])
            for team, spec in job["idps"].items()
        }

    def service(self, routing: str) -> Any:
        """The login service on routing table ``routing``, built (and timed) on first use."""
        if routing in self.services:
            return self.services[routing]
        from broker.aws import AwsClients
        from broker.routing import routing_table_from_env
        from broker.wiring import BrokerSettings, build_login_service

        os.environ["BROKER_ROUTING_FILE"] = self.job["routing"][routing]
        gc.collect()
        rss_before = rss_kb()
        cpu, wall = time.process_time(), time.perf_counter()
        table = routing_table_from_env()
        loaded_cpu, loaded_wall = time.process_time(), time.perf_counter()
        gc.collect()
        load_rss_kb = rss_kb() - rss_before
        clients = self.clients = AwsClients()
        clients.register("provide-client-params", self.counter.on_call)
        clients.register("before-send", self.counter.on_send)
        clients.register("before-send", self.latency, first=True)
        service = build_login_service(table, BrokerSettings.from_env(), clients)
        self.loads[routing] = {
            "teams": len(table.teams),
            "applications": len(table.applications),
            "load_wall_ms": (loaded_wall - wall) * 1000,
            "load_cpu_ms": (loaded_cpu - cpu) * 1000,
            "load_rss_mb": load_rss_kb / 1024,  # what the loaded table holds (RSS after a collection)
            "build_cpu_ms": (time.process_time() - loaded_cpu) * 1000,
        }
        self.services[routing] = service
        return service

    def events(self, pairs: list[list[str]]) -> list[dict[str, Any]]:
        """Signed ACS events for (user, team) pairs; signing is the IdP's work, done before timing."""
        out = []
        for user, team in pairs:
            idp = self.idps[team]
            xml = idp.build_response(
                user_id=user, team_id=team, audience=BENCH_ENTITY_ID, acs_url=BENCH_ACS_URL)
            out.append(acs_event(idp.encode(xml)))
        return out

    def aws_floor(self, phase: dict[str, Any]) -> dict[str, Any]:
        """CPU of the warm login's floor, in this process: its two AWS calls alone, made bare
        with the broker's own clients, and the parse and signature check of one of its
        responses alone.

        The same replay-table PutItem and CreatePresignedDomainUrl, through the
        same cached clients against the same emulator: what no broker built on
        boto3 can go below; and what any validator must do with the response.
        """
        service = self.service(phase["routing"])
        user, team_id = phase["pairs"][0]
        team = service.routing.team(team_id)
        profile = service.profiles.ensure(team, user).profile  # cached as InService: no call
        sagemaker = service.profiles.spokes.client(team, "sagemaker", user)
        dynamodb = self.clients.hub("dynamodb", self.job["table_region"])
        idp = self.idps[team_id]
        verify = parse_and_verify(idp.encode(idp.build_response(
            user_id=user, team_id=team_id, audience=BENCH_ENTITY_ID, acs_url=BENCH_ACS_URL)),
            idp.cert_pem)
        verify()  # its first call is not the floor's (lazy imports)
        rounds = int(phase["aws_floor"])
        first = self.floor_rounds
        self.floor_rounds += rounds
        cpu = time.process_time()
        for n in range(first, first + rounds):
            dynamodb.put_item(
                TableName=self.job["table_name"],
                Item={"pk": {"S": f"bench-floor#{os.getpid()}#{n}"}, "expires_at": {"N": "1"}},
                ConditionExpression="attribute_not_exists(pk)")
            sagemaker.create_presigned_domain_url(
                DomainId=profile.domain_id, UserProfileName=profile.name,
                SessionExpirationDurationInSeconds=team.session_expiration_seconds,
                ExpiresInSeconds=team.presigned_url_expiry_seconds)
        calls_s = time.process_time() - cpu
        cpu = time.process_time()
        for _ in range(rounds):
            verify()
        signature_s = time.process_time() - cpu
        return {"name": phase["name"], "rounds": rounds, "calls_cpu_s": calls_s,
                "signature_cpu_s": signature_s,
                "cpu_ms_per_round": calls_s * 1000 / rounds,
                "signature_cpu_ms_per_round": signature_s * 1000 / rounds}

    def run_phase(self, phase: dict[str, Any]) -> dict[str, Any]:
        """Sign in every pair of the phase once, in order; measure if asked."""
        from broker import handler

        if phase.get("aws_floor"):
            return self.aws_floor(phase)

        handler.use_login_service(self.service(phase["routing"]))
        events = self.events(phase["pairs"])
        if phase.get("ready"):
            Path(phase["ready"]).write_text("ready")
        if phase.get("wait"):
            wait_for(phase["wait"])
        context = LambdaContext()
        cycle = phase.get("latency_cycle_ms") or [0]
        injected = [cycle[n % len(cycle)] for n in range(len(events))]
        statuses: Counter[int] = Counter()
        latencies: list[float] = []
        waited: list[float] = []
        self.counter.reset()
        started_at = time.time()
        cpu, wall = time.process_time(), time.perf_counter()
        for event, latency_ms in zip(events, injected, strict=True):
            self.latency.seconds = latency_ms / 1000
            begin = time.perf_counter()
            response = handler.lambda_handler(event, context)
            latencies.append((time.perf_counter() - begin) * 1000)
            waited.append(self.latency.waited_ms())
            statuses[response["statusCode"]] += 1
        cpu_s, wall_s = time.process_time() - cpu, time.perf_counter() - wall
        self.latency.seconds = 0.0
        return {
            "name": phase["name"],
            "routing": phase["routing"],
            "measured": bool(phase.get("measure")),
            "injected_latency_ms": injected,
            "waited_ms": waited,
            "logins": len(events),
            "statuses": {str(code): count for code, count in sorted(statuses.items())},
            "calls": dict(sorted(self.counter.calls.items())),
            "attempts": self.counter.attempts,
            "cpu_s": cpu_s,
            "wall_s": wall_s,
            "started_at": started_at,
            "latencies_ms": latencies,
            "peak_rss_kb": peak_rss_kb(),
        }


def main(argv: list[str]) -> int:
    """Run the job in ``argv[0]``, write results to ``argv[1]``."""
    job = json.loads(Path(argv[0]).read_text())
    os.environ["BROKER_TABLE_NAME"] = job["table_name"]
    os.environ["BROKER_TABLE_REGION"] = job["table_region"]
    cpu, wall = time.process_time(), time.perf_counter()
    import broker.handler  # noqa: F401  (the Lambda's own import, timed)

    imported = {"import_cpu_ms": (time.process_time() - cpu) * 1000,
                "import_wall_ms": (time.perf_counter() - wall) * 1000}
    worker = Worker(job)
    phases = [worker.run_phase(phase) for phase in job["phases"]]
    Path(argv[1]).write_text(json.dumps({
        "imports": imported, "loads": worker.loads, "phases": phases, "peak_rss_kb": peak_rss_kb(),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
