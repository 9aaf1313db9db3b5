"""Memory that does not grow with people: one client per (service, region), each call signed as its person.

Through the real handler and the emulator: the botocore clients a container
makes stay the same in number however many people sign in, and every spoke
request carries the access key of the AssumeRole session of the person whose
profile it names (the Authorization header, seen on ``before-send``).
"""

from __future__ import annotations

import json
from typing import Any

from tests.functional.conftest import Landscape


def _access_key(request: Any) -> str:
    authorization = request.headers["Authorization"]
    authorization = authorization.decode() if isinstance(authorization, bytes) else authorization
    return authorization.split("Credential=", 1)[1].split("/", 1)[0]


def test_clients_stay_constant_and_each_spoke_call_is_signed_by_its_person(
    landscape: Landscape,
) -> None:
    issued: dict[str, str] = {}  # access key id -> the person's RoleSessionName
    signed: list[tuple[str, str]] = []  # (access key id, profile named in the request)

    def on_assume_role(params: dict[str, Any], parsed: dict[str, Any], **_: Any) -> None:
        issued[parsed["Credentials"]["AccessKeyId"]] = params["RoleSessionName"]

    def on_send(request: Any, **_: Any) -> None:
        body = json.loads(request.body or b"{}")
        signed.append((_access_key(request), body.get("UserProfileName", "")))

    landscape.clients.register("provide-client-params.sts.AssumeRole",
                               lambda params, context, **_: context.update(params=params))
    landscape.clients.register(
        "after-call.sts.AssumeRole",
        lambda parsed, context, **_: on_assume_role(context["params"], parsed))
    landscape.clients.register("before-send.sagemaker", on_send)

    assert landscape.sign_in("person0", "team1")["statusCode"] == 302
    after_one = landscape.clients.client_count()
    for n in range(1, 12):
        assert landscape.sign_in(f"person{n}", "team1")["statusCode"] == 302

    assert landscape.clients.client_count() == after_one == 3  # DynamoDB, STS, SageMaker
    assert len(issued) == 12
    assert {issued[key] for key, _ in signed} == {f"person{n}" for n in range(12)}
    for key, profile in signed:
        assert profile == f"team1--{issued[key]}"
