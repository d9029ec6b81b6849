"""The one loader of the real event fixtures in tests/events/ (generated with `sam local generate-event`).

`api_event(kind, path, ...)` takes the fixture for an event kind and sets the request on it the way that
kind carries it: HTTP API v2 and Function URLs put cookies in `cookies` and join repeated headers with
commas; REST API v1 has `multiValueHeaders`; ALB has plain headers.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

EVENTS = Path(__file__).resolve().parent.parent / "events"
V2_KINDS = ("http-api-v2", "function-url")
KINDS = ("http-api-v2", "rest-api-v1", "function-url", "alb")

Headers = dict[str, str | list[str]]


def load_event(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    return event


def _values(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def api_event(
    kind: str,
    path: str = "/v1/models",
    *,
    method: str = "GET",
    headers: Headers | None = None,
    cookies: list[str] | None = None,
    query: str = "",
    body: str | None = None,
) -> dict[str, Any]:
    event = load_event(kind)
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    params = parse_qs(query, keep_blank_values=True)
    if kind in V2_KINDS:
        event["rawPath"] = path
        event["rawQueryString"] = query
        event["requestContext"]["http"].update(method=method, path=path)
        event["headers"] = {k: ",".join(_values(v)) for k, v in headers.items()}
        if cookies:
            event["cookies"] = cookies
        else:
            event.pop("cookies", None)
        event["queryStringParameters"] = {k: ",".join(v) for k, v in params.items()} or None
    else:
        if cookies:
            headers["cookie"] = "; ".join(cookies)
        event["path"] = path
        event["httpMethod"] = method
        if kind == "alb":
            event["headers"] = {k: _values(v)[-1] for k, v in headers.items()}
            event["queryStringParameters"] = {k: v[-1] for k, v in params.items()}
        else:
            event["headers"] = {k: _values(v)[-1] for k, v in headers.items()}
            event["multiValueHeaders"] = {k: _values(v) for k, v in headers.items()}
            event["queryStringParameters"] = {k: v[-1] for k, v in params.items()} or None
            event["multiValueQueryStringParameters"] = params or None
            event["requestContext"]["httpMethod"] = method
            event["requestContext"]["path"] = path
    event["body"] = body or ""
    event["isBase64Encoded"] = False
    return event


@dataclass
class LambdaResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def parse_response(raw: dict[str, Any]) -> LambdaResponse:
    """A Mangum response for any event kind, body decoded (base64, then gzip) to plain bytes."""
    headers = {k.lower(): v for k, v in (raw.get("headers") or {}).items()}
    for k, values in (raw.get("multiValueHeaders") or {}).items():
        headers[k.lower()] = ", ".join(values)
    body_text = raw.get("body") or ""
    body = base64.b64decode(body_text) if raw.get("isBase64Encoded") else body_text.encode()
    if headers.get("content-encoding") == "gzip":
        body = gzip.decompress(body)
    return LambdaResponse(int(raw["statusCode"]), headers, body)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Mangum and our request log read."""

    aws_request_id: str = "req-00000000-0000-0000-0000-000000000000"
    function_name: str = "modelgate-ModelsFunction"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelgate-ModelsFunction"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def invoke(handler: Any, event: dict[str, Any], context: LambdaContext | None = None) -> LambdaResponse:
    """Call a Lambda handler the way the runtime does, and parse what it returns."""
    return parse_response(handler(event, context or LambdaContext()))
