"""How the operator commands reach AWS, and what they say when they cannot.

One option, ``--aws-endpoint URL`` (:func:`add_aws_endpoint_argument`): every
call goes to that emulator, signed with its placeholder credentials, never
with the operator's own (:func:`aws_clients`). One translation
(:func:`exit_on_aws_problem`) of the problems that are the environment's and
not the command's into one line on stderr and :data:`EXIT_AWS`: no
credentials, an SSO session that expired, an endpoint that does not answer,
credentials AWS refuses, a call AWS denies.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from broker.aws import AwsClients

# botocore is imported in the functions: the parser is built on every `broker` call, and
# botocore.session alone costs about 0.25 s to import.

EXIT_AWS = 3
EXIT_AWS_HELP = (f"{EXIT_AWS} AWS could not be used: no credentials, an endpoint that does not answer, "
                 "or credentials or a call AWS refused (one line on stderr says which, and what to do)")
SIGN_IN = ("set AWS_PROFILE to a configured profile (after `aws sso login --profile NAME` for IAM "
           "Identity Center) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; for the emulator pass "
           "--aws-endpoint URL")
EMULATOR_KEY = "testing"  # what the emulator accepts; it checks no signature
_REFUSED = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "InvalidClientTokenId",
                      "UnrecognizedClientException", "SignatureDoesNotMatch", "InvalidAccessKeyId"})
_DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})


def add_aws_endpoint_argument(
    parser: argparse.ArgumentParser,
    help_text: str = "send every AWS call to this emulator (e.g. the one of `broker serve`), with its "
                     "placeholder credentials; default: AWS, with the SDK's credentials",
) -> None:
    """The ``--aws-endpoint URL`` option of every command that calls AWS."""
    parser.add_argument("--aws-endpoint", metavar="URL", default=None, help=help_text)


def aws_clients(endpoint: str | None) -> AwsClients:
    """Clients for AWS or, given ``endpoint``, for the emulator there."""
    from broker.aws import AwsClients

    return AwsClients() if endpoint is None else AwsClients(_emulator_session(endpoint))


def _emulator_session(endpoint_url: str) -> Any:
    """A botocore session: every client to ``endpoint_url``, signed with the emulator's credentials."""
    import botocore.session

    class EmulatorSession(botocore.session.Session):
        def create_client(self, *args: Any, **kwargs: Any) -> Any:
            kwargs["endpoint_url"] = endpoint_url
            return super().create_client(*args, **kwargs)

    session = EmulatorSession()
    session.set_credentials(EMULATOR_KEY, EMULATOR_KEY)
    return session


def aws_problem(error: BaseException) -> str | None:
    """What is wrong with the AWS environment and how to fix it, on one line; ``None``: not that."""
    problem = _describe(error)
    return " ".join(problem.split()) if problem else None


def _describe(error: BaseException) -> str | None:
    from botocore.exceptions import (
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        CredentialRetrievalError,
        EndpointConnectionError,
        LoginTokenLoadError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
        ProxyConnectionError,
        SSOError,
        TokenRetrievalError,
    )

    if isinstance(error, NoCredentialsError):
        return f"no AWS credentials found: {SIGN_IN}"
    if isinstance(error, PartialCredentialsError | CredentialRetrievalError):
        return f"the AWS credentials are incomplete or could not be obtained ({error}): {SIGN_IN}"
    if isinstance(error, ProfileNotFound):
        return (f"AWS profile {error.kwargs.get('profile')!r} is not configured (aws configure sso "
                f"--profile NAME adds one): {SIGN_IN}")
    if isinstance(error, SSOError | TokenRetrievalError | LoginTokenLoadError):
        return f"the AWS sign-in session has expired or was not started ({error}): run `aws sso login`"
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ConnectionClosedError
                  | ProxyConnectionError):
        where = error.kwargs.get("endpoint_url") or error.kwargs.get("proxy_url") or "the AWS endpoint"
        return (f"cannot reach {where} ({type(error).__name__}): check the network and proxy, or that "
                "the emulator runs at --aws-endpoint")
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code, message = str(details.get("Code", "")), str(details.get("Message", ""))
        if code in _REFUSED:
            return (f"AWS refused the credentials for {error.operation_name} ({code}: {message}): "
                    f"renew them (`aws sso login`), or {SIGN_IN}")
        if code in _DENIED:
            return (f"AWS denied {error.operation_name} ({code}: {message}): the credentials' role "
                    "needs that permission, or use the deployment role (docs/deployment.md)")
    return None


def exit_on_aws_problem(prog: str, command: Callable[[], int]) -> int:
    """Run ``command``; an AWS environment problem becomes one line on stderr and :data:`EXIT_AWS`."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return command()
    except (BotoCoreError, ClientError) as error:
        problem = aws_problem(error)
        if problem is None:
            raise
        print(f"{prog}: {problem}", file=sys.stderr)
        return EXIT_AWS
