"""Cold-start children of the benchmark: a fresh interpreter each, nothing imported in advance.

``python -P .../coldstart.py broker JOB.json RESULT.json`` with ``PYTHONPATH``
set to a Lambda artifact built by ``scripts/package-lambda.sh`` (the broker
package with its bytecode; the bench builds it): a new Lambda container's
life up to its first answer: import the handler from the artifact, load the
routing table, wire the service, answer one ACS POST (a person whose profile
exists, so: replay write, AssumeRole, DescribeUserProfile, presign).

``... coldstart.py boto3 JOB.json RESULT.json``: the floor: ``import boto3``
and one SageMaker client (the client the broker's spoke calls need).

Both write ``time.time()`` at the moment of the answer; the parent subtracts
the moment it spawned the process, so interpreter start-up counts on both
sides. Only the standard library is imported at module level, on purpose.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path
from typing import Any

BASELINE_SERVICE = "sagemaker"  # the floor: import boto3 + one SageMaker client


def peak_rss_kb() -> int:
    """Peak resident memory of this program (``VmHWM``; see the worker's twin), in KiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def broker_cold(job: dict[str, Any]) -> dict[str, Any]:
    """Import, load, wire and answer one sign-in the way a new Lambda container does."""
    os.environ["BROKER_ROUTING_FILE"] = job["routing_file"]
    os.environ["BROKER_TABLE_NAME"] = job["table_name"]
    os.environ["BROKER_TABLE_REGION"] = job["table_region"]
    from broker import handler
    from broker.aws import AwsClients
    from broker.routing import routing_table_from_env
    from broker.wiring import BrokerSettings, build_login_service

    imported = time.time()
    calls: dict[str, int] = {}

    def count(event_name: str, **_: Any) -> None:
        _, service, operation = event_name.split(".", 2)
        key = f"{service}.{operation}"
        calls[key] = calls.get(key, 0) + 1

    clients = AwsClients()
    clients.register("provide-client-params", count)
    # What handler.login_service() does on first use, with a client set we can count on.
    handler.use_login_service(
        build_login_service(routing_table_from_env(), BrokerSettings.from_env(), clients))
    wired = time.time()
    context = type("Context", (), {
        "function_name": "studio-broker-bench", "memory_limit_in_mb": 1024,
        "invoked_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:bench",
        "aws_request_id": "cold"})()
    response = handler.lambda_handler(job["event"], context)
    answered = time.time()
    return {"answered_at": answered, "imported_at": imported, "wired_at": wired,
            "cpu_s": time.process_time(), "status": response["statusCode"], "calls": calls,
            "peak_rss_kb": peak_rss_kb(), "handler_file": handler.__file__,
            "handler_bytecode": _loaded_from_bytecode(handler)}


def _loaded_from_bytecode(module: Any) -> bool:
    """Whether ``module``'s bytecode was there before it was imported: the bench runs this
    child with bytecode writing off (as on Lambda's read-only /var/task), so a .pyc on
    disk is one the artifact shipped."""
    cached = getattr(module, "__cached__", None)
    return bool(sys.flags.dont_write_bytecode and cached and os.path.exists(cached))


def boto3_cold(job: dict[str, Any]) -> dict[str, Any]:
    """``import boto3`` plus the creation of one client."""
    import boto3

    imported = time.time()
    boto3.client(BASELINE_SERVICE, region_name=job["table_region"])
    answered = time.time()
    return {"answered_at": answered, "imported_at": imported, "cpu_s": time.process_time(),
            "service": BASELINE_SERVICE,
            "peak_rss_kb": peak_rss_kb()}


def main(argv: list[str]) -> int:
    """``MODE JOB RESULT``: run one cold start and write its timings."""
    mode, job_file, result_file = argv
    job = json.loads(Path(job_file).read_text())
    result = broker_cold(job) if mode == "broker" else boto3_cold(job)
    Path(result_file).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
