"""Operator commands when AWS cannot be used: one line on stderr, exit code 3, nothing created.

Through ``broker.cli.main``. No test reaches real AWS: without credentials the SDK
fails before it sends anything, and every other test names its endpoint.
"""

from __future__ import annotations

import socket
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import boto3
import pytest

from broker.aws import AwsClients
from broker.cli import main
from broker.emulator.server import start_server

REPO = Path(__file__).resolve().parents[2]
FILES = ["--accounts", str(REPO / "accounts"), "--routing", str(REPO / "routing.yaml")]
COMMANDS = [["plan"], ["apply", "--poll-seconds", "0"], ["status"], ["drift", "--poll-seconds", "0"]]
IDS = [c[0] for c in COMMANDS]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    return captured.err


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No credentials anywhere the SDK looks (and no instance metadata service to ask)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_without_credentials_a_command_says_how_to_sign_in_and_creates_nothing(
        clients: AwsClients, no_credentials: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    code = main(["rollout", *command, *FILES])

    assert code == 3
    err = one_line_error(capsys)
    assert err.startswith(f"broker rollout {command[0]}: no AWS credentials found: set AWS_PROFILE")
    assert "`aws sso login --profile NAME`" in err and "--aws-endpoint URL" in err
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    assert boto3.client("cloudformation", region_name="us-east-1").list_stack_sets()["Summaries"] == []


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_an_endpoint_that_does_not_answer_is_named(
        capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    code = main(["rollout", *command, *FILES, "--aws-endpoint", f"http://127.0.0.1:{port}"])

    assert code == 3
    assert one_line_error(capsys) == (
        f"broker rollout {command[0]}: cannot reach http://127.0.0.1:{port}/ (EndpointConnectionError): "
        "check the network and proxy, or that the emulator runs at --aws-endpoint\n")


class Refusing(BaseHTTPRequestHandler):
    """Answers every CloudFormation call with one error, as AWS words it; keeps what it was sent."""

    error: tuple[int, str, str] = (400, "", "")
    authorizations: list[str] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).authorizations.append(self.headers.get("Authorization", ""))
        status, code, message = self.error
        body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}"
                "</Message></Error><RequestId>r-1</RequestId></ErrorResponse>").encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing() -> Iterator[tuple[str, type[Refusing]]]:
    handler = type("RefusingNow", (Refusing,), {"authorizations": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "code", "message", "said"), [
    (400, "ExpiredToken", "The security token included in the request is expired",
     "AWS refused the credentials for DescribeStackSet (ExpiredToken: The security token included in "
     "the request is expired): renew them (`aws sso login`), or set AWS_PROFILE"),
    (403, "InvalidClientTokenId", "The security token included in the request is invalid.",
     "AWS refused the credentials for DescribeStackSet (InvalidClientTokenId: "),
    (400, "UnrecognizedClientException", "The security token included in the request is invalid.",
     "AWS refused the credentials for DescribeStackSet (UnrecognizedClientException: "),
    (403, "AccessDenied", "User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to "
     "perform: cloudformation:DescribeStackSet",
     "AWS denied DescribeStackSet (AccessDenied: User: arn:aws:sts::123456789012:assumed-role/ci/x is "
     "not authorized to perform: cloudformation:DescribeStackSet): the credentials' role needs that "
     "permission"),
])
def test_refused_credentials_and_denied_calls_are_named(
        refusing: tuple[str, type[Refusing]], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], status: int, code: str, message: str, said: str) -> None:
    url, handler = refusing
    handler.error = (status, code, message)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAOPERATORSOWNKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "operator-secret")

    assert main(["rollout", "plan", *FILES, "--aws-endpoint", url]) == 3

    assert one_line_error(capsys).startswith(f"broker rollout plan: {said}")
    # An emulator endpoint gets the emulator's placeholder credentials, never the operator's.
    assert handler.authorizations and all(
        a.startswith("AWS4-HMAC-SHA256 Credential=testing/") for a in handler.authorizations)


def test_every_operator_command_documents_exit_code_3(capsys: pytest.CaptureFixture[str]) -> None:
    for command in [*IDS, None]:
        with pytest.raises(SystemExit):
            main(["rollout", command, "--help"] if command else ["serve", "--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "--aws-endpoint URL" in out and "3 AWS could not be used" in out, command


def test_the_rollout_reaches_an_emulator_given_by_aws_endpoint(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    server, url = start_server()
    try:
        assert main(["rollout", "apply", *FILES, "--poll-seconds", "0", "--json",
                     "--aws-endpoint", url]) == 0
        capsys.readouterr()
        assert main(["rollout", "plan", *FILES, "--aws-endpoint", url]) == 0
        assert capsys.readouterr().out.endswith("No changes.\n")
        cfn = boto3.client("cloudformation", region_name="us-east-1", endpoint_url=url,
                           aws_access_key_id="testing", aws_secret_access_key="testing")
        assert len(cfn.list_stack_sets(Status="ACTIVE")["Summaries"]) == 5
    finally:
        # The server's backends are this process's: leave them empty for the next test.
        urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST"),
                               timeout=10).close()
        server.stop()
