"""Server mode: the raw JSON error, and the ``python -m`` entrypoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import boto3

from broker.emulator import installed

from .conftest import REGION, Aws, make_domain, reset_server

ROOT = Path(__file__).resolve().parents[2]


def test_error_body_is_aws_json(server_url: str) -> None:
    request = urllib.request.Request(
        f"{server_url}/",
        data=json.dumps({"DomainId": "d-nope", "UserProfileName": "alice"}).encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "SageMaker.DescribeUserProfile",
            "Authorization": (
                f"AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/sagemaker/aws4_request, "
                "SignedHeaders=host, Signature=0"
            ),
        },
        method="POST",
    )
    try:
        urllib.request.urlopen(request, timeout=5)
    except urllib.error.HTTPError as error:
        status, body = error.code, json.loads(error.read())
    else:
        raise AssertionError("DescribeUserProfile of a missing profile succeeded")
    assert status == 400
    assert body["__type"] == "ResourceNotFound"
    # moto's JSON serialiser picks the key's case; botocore reads either.
    message = body.get("message") or body.get("Message")
    assert message.endswith("user-profile/d-nope/alice does not exist.")


def test_start_server_installs_the_extension(server_url: str) -> None:
    reset_server(server_url)
    assert installed()
    sm = Aws("server", server_url).client("sagemaker")
    domain_id = make_domain(sm)
    sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
    assert sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")["Status"] == ("InService")


def test_module_entrypoint_prints_url_and_stops_on_sigterm() -> None:
    env = {**os.environ, "BROKER_EMULATOR_PROFILE_DELAY_SECONDS": "30"}
    command = [sys.executable, "-m", "broker.emulator.server", "--port", "0"]
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as process:
        try:
            assert process.stdout is not None
            url = process.stdout.readline().strip()
            assert url.startswith("http://127.0.0.1:")
            sm = boto3.client(
                "sagemaker",
                region_name=REGION,
                endpoint_url=url,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
            )
            domain_id = make_domain(sm)
            sm.create_user_profile(DomainId=domain_id, UserProfileName="alice")
            # The env var reached the server's settings: the profile is still Pending.
            profile = sm.describe_user_profile(DomainId=domain_id, UserProfileName="alice")
            assert profile["Status"] == "Pending"
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=10) == 0
        finally:
            if process.poll() is None:
                process.kill()
