"""One structured log record per request: request id, caller kind, token id and status. Never a credential."""

from __future__ import annotations

import logging
from typing import Any

from starlette.requests import Request

log = logging.getLogger("modelgate.request")


def request_id(request: Request) -> str | None:
    context = request.scope.get("aws.context")
    if context is not None:
        return str(getattr(context, "aws_request_id", "")) or None
    return request.headers.get("x-request-id")


def log_request(request: Request, status: int, *, error_code: str | None = None) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    caller = getattr(request.state, "caller", None)
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
    log.info("request", extra=fields)
