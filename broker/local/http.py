"""HTTP in front of the Lambda handler: requests become API Gateway REST proxy events.

The local stack serves the broker through this adapter, so a browser walks
the same code path as in AWS: the handler sees the event API Gateway would
send and its response dict becomes the HTTP response. Like one Lambda
container, the adapter hands the handler one event at a time (the handler's
resolver keeps the current event on a shared object).
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.wrappers import Request, Response

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]
STAGE = "local"


@dataclass(frozen=True)
class LocalLambdaContext:
    """The fields of a Lambda context that the handler's Powertools decorators read."""

    aws_request_id: str
    function_name: str = "studio-broker-local"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:studio-broker-local"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def api_gateway_event(request: Request, request_id: str, stage: str = STAGE) -> dict[str, Any]:
    """The REST API (v1) proxy event API Gateway would send for ``request``."""
    body_bytes = request.get_data(cache=True)
    try:
        body: str | None = body_bytes.decode("utf-8") if body_bytes else None
        is_base64 = False
    except UnicodeDecodeError:
        body, is_base64 = base64.b64encode(body_bytes).decode("ascii"), True
    multi_headers: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        multi_headers.setdefault(name, []).append(value)
    multi_query = {key: request.args.getlist(key) for key in request.args}
    now = datetime.now(UTC)
    source_ip = request.remote_addr or "127.0.0.1"
    return {
        "resource": request.path,
        "path": request.path,
        "httpMethod": request.method,
        "headers": {name: values[-1] for name, values in multi_headers.items()},
        "multiValueHeaders": multi_headers,
        "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": request.path,
            "httpMethod": request.method,
            "path": f"/{stage}{request.path}",
            "stage": stage,
            "requestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
            "identity": {"sourceIp": source_ip, "userAgent": request.headers.get("User-Agent")},
            "domainName": request.host,
            "accountId": "123456789012",
            "apiId": "local",
        },
        "body": body,
        "isBase64Encoded": is_base64,
    }


def http_response(result: dict[str, Any]) -> Response:
    """The HTTP response for a Lambda proxy result (``headers`` and ``multiValueHeaders``)."""
    headers = Headers()
    for name, value in (result.get("headers") or {}).items():
        headers.set(name, str(value))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.remove(name)
        for value in values:
            headers.add(name, str(value))
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    response = Response(data, status=int(result["statusCode"]))
    response.headers = headers
    return response


class LambdaProxy:
    """A WSGI application that runs ``handler`` for every request, one at a time."""

    def __init__(self, handler: LambdaHandler, log: Callable[[str], None] = lambda _: None) -> None:
        self.handler = handler
        self.log = log
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.respond(Request(environ))(environ, start_response)

    def respond(self, request: Request) -> Response:
        """Invoke the handler with the request's event and turn its result into HTTP."""
        request_id = str(uuid.uuid4())
        event = api_gateway_event(request, request_id)
        started = time.perf_counter()
        with self._lock:
            result = self.handler(event, LocalLambdaContext(aws_request_id=request_id))
        elapsed = (time.perf_counter() - started) * 1000
        self.log(f"broker {request.method} {request.path} -> {result['statusCode']} "
                 f"({elapsed:.0f} ms, request {request_id})")
        return http_response(result)
