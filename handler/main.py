"""The Lambda entry point: `handler.main.handler`. Everything here runs once per container, at init."""

from __future__ import annotations

import logging
import os
import random
import signal
import sys
from typing import Any

from mangum import Mangum

from handler.core.listing import to_json
from handler.settings import Settings
from handler.web.app import create_app
from handler.web.telemetry import scrub_current_span
from handler.wiring import build_service

logging.getLogger("modelgate").setLevel(os.environ.get("MODELGATE_LOG_LEVEL", "INFO").upper())
# Whatever the function's log level: botocore's DEBUG records hold request and response bodies (the session
# secret from Secrets Manager, the role's session token), and Mangum's INFO access line holds the raw path.
logging.getLogger("botocore").setLevel(logging.INFO)
logging.getLogger("mangum.http").setLevel(logging.WARNING)

settings = Settings.from_env()
service = build_service(settings, one_request_at_a_time=True)  # Lambda: one request per container at a time
app = create_app(service)
# lifespan="off": Mangum would otherwise run the ASGI lifespan on every invocation.
asgi_handler = Mangum(app, lifespan="off")
_UNREADABLE = to_json(
    {
        "error": {
            "message": "The request is not valid.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_request",
        }
    }
).decode()


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Mangum, but an event it cannot read (`Host: a:b:c`, a bad base64 body, a missing field, not an HTTP event
    at all) gets a 400 in OpenAI's shape, not a Lambda error."""
    scrub_current_span()
    try:
        response: dict[str, Any] = asgi_handler(event, context)
    except Exception as error:  # raised while Mangum reads the event: the app ends its own errors as a 500
        # The type only: the text may quote the event (a header, a cookie).
        logging.getLogger("modelgate.web").warning("unreadable request event: %s", type(error).__name__)
        response = {"statusCode": 400, "body": _UNREADABLE, "isBase64Encoded": False}
        if isinstance(event, dict) and "multiValueHeaders" in event:  # ALB multi-value mode rejects `headers`
            response["multiValueHeaders"] = {"content-type": ["application/json"]}
        else:
            response["headers"] = {"content-type": "application/json"}
    return response


def _after_restore() -> None:
    """SnapStart: a snapshot may be restored hours after it was taken. Sockets opened before it are dead, seeded
    randomness would repeat, and nothing cached before it can be trusted: the monotonic clock revalidation runs on need
    not count the time in the snapshot. So the routes get fresh clients (DynamoDB, Secrets Manager) and caches."""
    random.seed()
    fresh = build_service(settings, one_request_at_a_time=True)
    service.resolver, service.access, service.store = fresh.resolver, fresh.access, fresh.store
    service.metrics = fresh.metrics


def _shutdown(signum: int, frame: object) -> None:
    """Lambda's SIGTERM before it ends the container (sent only when the function has an extension): write the
    metrics counted since the last flush, then exit."""
    service.metrics.flush()
    sys.exit(0)


if os.environ.get("AWS_LAMBDA_RUNTIME_API"):  # only inside Lambda: elsewhere SIGTERM keeps its usual meaning
    signal.signal(signal.SIGTERM, _shutdown)


try:
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda runtime only
except ImportError:
    pass
else:
    register_after_restore(_after_restore)
