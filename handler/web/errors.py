"""Domain errors and HTTP mishaps as Problems, rendered by the dialect that answers the request.

OpenAI's shape is {"error": {"message", "type", "param", "code"}}; Anthropic's and Gemini's are in their modules.
"""

from __future__ import annotations

import logging
import re

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from handler.core.errors import AccessDenied, ModelNotFound, NotAuthenticated, StoreUnavailable
from handler.web.dialects import BadRequest, Problem, dialect_for
from handler.web.requestlog import log_request, request_id

log = logging.getLogger("modelgate.web")
MAX_ECHOED_ID = 256
RETRY_AFTER_SECONDS = "1"
# `sk-` starting a word: a pasted key. Inside a word (`mask-rcnn`, `task-router`) it is part of a model id.
_KEYLIKE = re.compile(r"(?<![A-Za-z0-9])sk-[^\s'\"]{4,}")


def _redact(text: str) -> str:
    """Error messages echo what the caller sent; never a whole key, never an unbounded string."""
    if len(text) > MAX_ECHOED_ID:
        text = text[:MAX_ECHOED_ID] + "…"
    return _KEYLIKE.sub(lambda m: m.group(0)[:5] + "****", text)


def error_response(request: Request, problem: Problem) -> Response:
    status, body = dialect_for(request.scope).error(problem, request_id(request))
    log_request(request, status, error_code=problem.code or problem.type)
    content = b"" if request.method == "HEAD" else body  # HEAD: status and headers only
    return Response(content, status_code=status, media_type="application/json", headers=problem.headers)


async def _not_authenticated(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotAuthenticated)
    return error_response(request, Problem(401, error.message, code=error.code, refusal=error.reason))


async def _access_denied(request: Request, error: Exception) -> Response:
    assert isinstance(error, AccessDenied)
    return error_response(request, Problem(403, error.message, "permission_error", code=error.code))


async def _model_not_found(request: Request, error: Exception) -> Response:
    assert isinstance(error, ModelNotFound)
    message = f"The model '{_redact(error.model_id)}' does not exist or you do not have access to it."
    return error_response(request, Problem(404, message, param="model", code="model_not_found"))


async def _bad_request(request: Request, error: Exception) -> Response:
    assert isinstance(error, BadRequest)
    return error_response(request, Problem(400, _redact(error.message), param=error.param, code="invalid_request"))


async def _store_unavailable(request: Request, error: Exception) -> Response:
    message = "The model directory is temporarily unavailable. Please retry shortly."
    headers = {"Retry-After": RETRY_AFTER_SECONDS}
    return error_response(request, Problem(503, message, "server_error", code="service_unavailable", headers=headers))


def _model_routes(request: Request) -> str:
    """Every route the app answers GET on, as a caller would write it: `/v1/models/{model}`."""
    paths = [
        route.path.replace(":path}", "}")
        for route in request.app.routes
        if isinstance(route, APIRoute) and "GET" in (route.methods or ())
    ]
    *first, last = list(dict.fromkeys(paths)) or ["/v1/models"]
    return f"{', '.join(first)} and {last}" if first else last


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = f"Invalid URL. This service answers GET on {_model_routes(request)}."
        return error_response(request, Problem(404, message, code="unknown_url"))
    if error.status_code == 405:
        message = f"Method {request.method} is not allowed here. Use GET."
        allow = {"Allow": "GET, HEAD"}
        return error_response(request, Problem(405, message, code="method_not_allowed", headers=allow))
    return error_response(request, Problem(error.status_code, str(error.detail)))


async def _invalid_request(request: Request, error: Exception) -> Response:
    return error_response(request, Problem(400, "The request is not valid.", code="invalid_request"))


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("unexpected error", exc_info=error)
    message = "The server had an error while processing your request."
    return error_response(request, Problem(500, message, "server_error"))


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(AccessDenied, _access_denied)
    app.add_exception_handler(ModelNotFound, _model_not_found)
    app.add_exception_handler(BadRequest, _bad_request)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
