"""One structured log record per request: request id, caller kind, token id and status. Never a credential.
Every answer passes here, so it also counts the request for the metrics (handler/metrics.py).

Answers (200, 304) are logged at DEBUG and refusals and errors at INFO (5xx at WARNING): a record costs about a
third of a warm call, and clients such as Open WebUI list models on every page load. `LogLevel=DEBUG` (or
MODELGATE_LOG_LEVEL=DEBUG) gives a record for every request.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request

from handler.web.dialects import dialect_for

log = logging.getLogger("modelgate.request")


def request_id(request: Request) -> str | None:
    context = request.scope.get("aws.context")
    if context is not None:
        return str(getattr(context, "aws_request_id", "")) or None
    return request.headers.get("x-request-id")


def log_request(request: Request, status: int, *, error_code: str | None = None) -> None:
    state = request.scope.get("state", {})  # request.state's dict; a missing name raises there, which costs µs
    caller = state.get("caller")
    # Counted for the EMF metrics (handler/metrics.py), never written per request. The routes note the dialect;
    # an answer no route gave (unknown URL, method) has it worked out here (~5 µs).
    dialect = state.get("dialect") or dialect_for(request.scope).name
    request.app.state.service.metrics.request(dialect, caller.kind if caller else "none", status)
    level = logging.DEBUG if status < 400 else logging.INFO if status < 500 else logging.WARNING
    if not log.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "request_id": request_id(request),
        "route": getattr(request.scope.get("route"), "path", None),
        "status": status,
        "caller": caller.kind if caller else None,
        "token_id": caller.token_id if caller else None,
        "user_id": caller.user_id if caller else None,
    }
    if error_code:
        fields["error_code"] = error_code
    log.log(level, "request", extra=fields)
