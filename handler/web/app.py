"""The FastAPI app: two GET routes. Everything they answer comes from the core as prebuilt bytes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from handler.core import callers
from handler.core.access import ModelAccess
from handler.core.callers import CallerResolver
from handler.core.ports import Directory
from handler.settings import Settings
from handler.web import errors, openapi
from handler.web.cors import CorsMiddleware
from handler.web.responses import document_response


class Service:
    """What the routes need, built once per container by the composition root (handler.wiring)."""

    def __init__(self, settings: Settings, resolver: CallerResolver, access: ModelAccess, store: Directory) -> None:
        self.settings = settings
        self.resolver = resolver
        self.access = access
        self.store = store  # the uncached adapter: the benchmark and tests watch its requests


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _current_caller(request: Request) -> callers.Caller:
    # Called directly, not through Depends: FastAPI's dependency solving costs more than the whole lookup.
    headers = request.headers
    cookie = "; ".join(headers.getlist("cookie")) or None
    # The peer address: Mangum sets it from API Gateway's source IP, uvicorn from the socket. Never X-Forwarded-For.
    client_ip = request.client.host if request.client else None
    caller = _service(request).resolver.resolve(headers.getlist("authorization"), cookie, client_ip)
    request.state.caller = caller
    return caller


async def list_models(request: Request) -> Response:
    service = _service(request)
    listing = service.access.listing(_current_caller(request))
    return document_response(
        request,
        listing,
        max_age=service.settings.client_max_age_seconds,
        gzip_min_bytes=service.settings.gzip_min_bytes,
    )


async def retrieve_model(request: Request) -> Response:
    # Not a `model: str` parameter: it would build a pydantic field (and import pydantic.v1) at init. Not
    # path_params either: the route pattern ends in `$`, so a trailing newline falls off (`gpt-4o%0A` as `gpt-4o`).
    model: str = request.scope["path"].partition("/v1/models/")[2]
    if not model:  # `/v1/models/` is the list, as most clients expect
        return await list_models(request)
    service = _service(request)
    return document_response(
        request,
        service.access.model(_current_caller(request), model),
        max_age=service.settings.client_max_age_seconds,
        gzip_min_bytes=service.settings.gzip_min_bytes,
    )


def create_app(service: Service) -> FastAPI:
    app = FastAPI(title="modelgate", version="1.0.0", docs_url=None, redoc_url=None)
    app.state.service = service
    app.add_api_route(
        "/v1/models",
        list_models,
        methods=["GET"],
        response_class=Response,
        responses=openapi.responses(openapi.MODEL_LIST),
        summary="List the models the caller may use",
    )
    app.add_api_route(
        "/v1/models/{model:path}",
        retrieve_model,
        methods=["GET"],
        response_class=Response,
        responses=openapi.responses(openapi.MODEL, not_found=True),
        openapi_extra={"parameters": [openapi.MODEL_PARAMETER]},
        summary="Retrieve one model the caller may use",
    )
    # HEAD: GET's answer without the body. Own routes, out of the schema (FastAPI names one operation per route).
    for path, endpoint in (("/v1/models", list_models), ("/v1/models/{model:path}", retrieve_model)):
        app.add_api_route(path, endpoint, methods=["HEAD"], response_class=Response, include_in_schema=False)
    errors.install(app)
    app.add_middleware(
        CorsMiddleware,
        allow_origins=service.settings.cors_allow_origins,
        credential_origins=service.settings.cors_credential_origins,
    )
    return app
