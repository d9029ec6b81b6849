"""Domain errors and HTTP mishaps as OpenAI-shaped JSON: {"error": {"message", "type", "param", "code"}}."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from handler.core.errors import AccessDenied, ModelNotFound, NotAuthenticated, StoreUnavailable
from handler.core.listing import to_json
from handler.web.requestlog import log_request

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


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    log_request(request, status, error_code=code or type_)
    content = b"" if request.method == "HEAD" else to_json(body)  # HEAD: status and headers only
    return Response(content, status_code=status, media_type="application/json", headers=headers)


async def _not_authenticated(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotAuthenticated)
    return error_response(request, 401, error.message, code=error.code)


async def _access_denied(request: Request, error: Exception) -> Response:
    assert isinstance(error, AccessDenied)
    return error_response(request, 403, error.message, type_="permission_error", code=error.code)


async def _model_not_found(request: Request, error: Exception) -> Response:
    assert isinstance(error, ModelNotFound)
    message = f"The model '{_redact(error.model_id)}' does not exist or you do not have access to it."
    return error_response(request, 404, message, param="model", code="model_not_found")


async def _store_unavailable(request: Request, error: Exception) -> Response:
    return error_response(
        request,
        503,
        "The model directory is temporarily unavailable. Please retry shortly.",
        type_="server_error",
        code="service_unavailable",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 404:
        message = "Invalid URL. This service answers GET /v1/models and GET /v1/models/{model}."
        return error_response(request, 404, message, code="unknown_url")
    if error.status_code == 405:
        message = f"Method {request.method} is not allowed here. Use GET."
        return error_response(request, 405, message, code="method_not_allowed", headers={"Allow": "GET, HEAD"})
    return error_response(request, error.status_code, str(error.detail), code=None)


async def _invalid_request(request: Request, error: Exception) -> Response:
    return error_response(request, 400, "The request is not valid.", code="invalid_request")


async def _unexpected(request: Request, error: Exception) -> Response:
    log.error("unexpected error", exc_info=error)
    return error_response(request, 500, "The server had an error while processing your request.", type_="server_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(NotAuthenticated, _not_authenticated)
    app.add_exception_handler(AccessDenied, _access_denied)
    app.add_exception_handler(ModelNotFound, _model_not_found)
    app.add_exception_handler(StoreUnavailable, _store_unavailable)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(Exception, _unexpected)
