"""A real API Gateway HTTP API (payload 2.0) event, as `sam local generate-event` writes it, aimed at our routes."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

EVENT_FILE = Path(__file__).resolve().parent / "http-api-v2.json"


@cache
def _template() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(EVENT_FILE.read_text())
    return event


def http_api_event(
    path: str = "/v1/models", *, headers: dict[str, str] | None = None, cookies: list[str] | None = None
) -> dict[str, Any]:
    """The sam event with our GET request in it; cookies go where API Gateway puts them."""
    event = copy.deepcopy(_template())
    event["rawPath"] = path
    event["rawQueryString"] = ""
    event["queryStringParameters"] = None
    event["requestContext"]["http"].update(method="GET", path=path)
    event["headers"] = {"host": "id.execute-api.us-east-1.amazonaws.com", **(headers or {})}
    if cookies:
        event["cookies"] = cookies
    else:
        event.pop("cookies", None)
    event["body"] = ""
    event["isBase64Encoded"] = False
    return event


@dataclass
class LambdaContext:
    """What Mangum and the request log read from Lambda's context object."""

    aws_request_id: str = "bench-0000"
    function_name: str = "modelgate-bench"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:modelgate-bench"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000
