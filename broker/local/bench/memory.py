"""Memory per container as people grow: RSS after 10 distinct people and after ``--people``.

``python -m broker.local.bench.memory PEOPLE RESULT.json`` runs in a fresh
interpreter, a container's life: the real :class:`~broker.spokes.SpokeSessions`
and :class:`~broker.profiles.ProfileService` on the broker's own
:class:`~broker.aws.AwsClients`, each new person's first sign-in path in a
spoke (AssumeRole, DescribeUserProfile, CreatePresignedDomainUrl). The
endpoints are stubbed in-process on botocore's ``before-send`` (canned AWS
answers with real-sized credentials), so the numbers are the broker's and
botocore's memory, not an emulator's, and 1,000 people take seconds.
"""

from __future__ import annotations

import gc
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

from broker.local.bench.worker import peak_rss_kb

BASELINE_PEOPLE = 10
ACCOUNT = "111111111111"
REGION = "eu-west-1"
SESSION_TOKEN_CHARS = 900  # about what STS issues for a session with three tags


def rss_kb() -> int:
    """Resident memory of this process now (``VmRSS``), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return peak_rss_kb()


class _Raw(io.BytesIO):
    def stream(self, **_: Any) -> Any:
        yield self.getvalue()


class StubEndpoints:
    """Canned STS and SageMaker answers, each AssumeRole with fresh credentials."""

    def __init__(self, execution_role: str) -> None:
        self.execution_role = execution_role
        self.issued = 0

    def __call__(self, request: Any, event_name: str, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        operation = event_name.rsplit(".", 1)[1]
        if operation == "AssumeRole":
            self.issued += 1
            key = f"ASIA{self.issued:016d}"
            body = (
                '<AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
                f"<AssumeRoleResult><Credentials><AccessKeyId>{key}</AccessKeyId>"
                f"<SecretAccessKey>{'s' * 40}</SecretAccessKey>"
                f"<SessionToken>{'t' * SESSION_TOKEN_CHARS}</SessionToken>"
                "<Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>"
                "</AssumeRoleResult><ResponseMetadata><RequestId>r</RequestId>"
                "</ResponseMetadata></AssumeRoleResponse>").encode()
            headers = {"Content-Type": "text/xml"}
        else:
            params = json.loads(request.body or b"{}")
            answer: dict[str, Any] = (
                {"DomainId": params["DomainId"], "UserProfileName": params["UserProfileName"],
                 "Status": "InService", "UserSettings": {"ExecutionRole": self.execution_role}}
                if operation == "DescribeUserProfile"
                else {"AuthorizedUrl": "https://d-bench.studio.eu-west-1.sagemaker.aws/auth?token=t"})
            body = json.dumps(answer).encode()
            headers = {"Content-Type": "application/x-amz-json-1.1"}
        return AWSResponse(request.url, 200, headers, _Raw(body))


def client_count(clients: Any) -> int:
    """The botocore clients ``clients`` made (a tree from before f91f7c0 has no
    ``client_count``: its cache is the same dict)."""
    count = getattr(clients, "client_count", None)
    return count() if count is not None else len(clients._clients)


def measure(people: int) -> dict[str, Any]:
    """RSS after ``BASELINE_PEOPLE`` and after ``people`` distinct people, clients made, CPU per person."""
    from broker.aws import AwsClients
    from broker.config import DomainRef, SpokeAccess, Team
    from broker.profiles import ProfileService
    from broker.spokes import SpokeSessions

    team = Team(
        id="bench-memory", account_id=ACCOUNT, region=REGION, domain=DomainRef(domain_id="d-bench"),
        execution_role_arn=f"arn:aws:iam::{ACCOUNT}:role/bench-memory-execution",
        tags={}, user_settings={}, spoke_access=SpokeAccess(external_id="bench-memory"))
    clients = AwsClients()
    clients.register("before-send", StubEndpoints(team.execution_role_arn))
    profiles = ProfileService(SpokeSessions(clients))

    def sign_in(n: int) -> None:
        user = f"person{n}@example.com"
        status = profiles.ensure(team, user)
        profiles.presigned_url(team, user, status.profile)

    def settled_rss() -> int:
        gc.collect()
        return rss_kb()

    for n in range(BASELINE_PEOPLE):
        sign_in(n)
    baseline_kb, baseline_clients = settled_rss(), client_count(clients)
    cpu = time.process_time()
    for n in range(BASELINE_PEOPLE, people):
        sign_in(n)
    cpu_ms = (time.process_time() - cpu) * 1000
    after_kb = settled_rss()
    return {
        "baseline_people": BASELINE_PEOPLE, "people": people,
        "rss_baseline_mb": baseline_kb / 1024, "rss_after_mb": after_kb / 1024,
        "rss_ratio": after_kb / baseline_kb,
        "kb_per_person": (after_kb - baseline_kb) / max(1, people - BASELINE_PEOPLE),
        "cpu_ms_per_new_person": cpu_ms / max(1, people - BASELINE_PEOPLE),
        "clients_baseline": baseline_clients, "clients_after": client_count(clients),
        "peak_rss_mb": peak_rss_kb() / 1024,
    }


def main(argv: list[str]) -> int:
    """``PEOPLE RESULT``: measure and write the result as JSON."""
    people, result_file = int(argv[0]), argv[1]
    import broker.handler  # noqa: F401  (a Lambda container's heap: the handler is imported)

    Path(result_file).write_text(json.dumps(measure(max(people, BASELINE_PEOPLE))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
