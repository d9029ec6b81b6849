"""The FastAPI app: list and retrieve under each dialect's prefix. Everything they answer is prebuilt bytes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from handler.core import callers
from handler.core.access import ModelAccess
from handler.core.callers import CallerResolver
from handler.core.errors import ModelNotFound, WouldBlock
from handler.core.listing import Document
from handler.core.ports import Directory
from handler.metrics import Metrics
from handler.settings import Settings
from handler.web import errors, openapi
from handler.web.cors import CorsMiddleware
from handler.web.credentials import credentials, scrub_query_keys
from handler.web.dialects import BadRequest, Dialect, dialect_for
from handler.web.dialects import openai as openai_dialect
from handler.web.responses import document_response

# Where each dialect lists models: OpenAI and Anthropic (and google-genai's default v1) share /v1/models.
MODEL_ROUTES = ("/v1/models", "/v1beta/models", "/v1beta/openai/models")
MODEL_SEGMENT = "{model:path}"


class Service:
    """What the routes need, built once per container by the composition root (handler.wiring)."""

    def __init__(
        self,
        settings: Settings,
        resolver: CallerResolver,
        access: ModelAccess,
        store: Directory,
        metrics: Metrics | None = None,
    ) -> None:
        self.settings = settings
        self.resolver = resolver
        self.access = access
        self.store = store  # the uncached adapter: the benchmark and tests watch its requests
        self.metrics = metrics if metrics is not None else Metrics.off()
        # Requests that read the store take turns: the cache fills from one reader at a time, as in Lambda. Those
        # waiting hold no thread.
        self.store_turn = asyncio.Lock()


Work = Callable[[Request], Response]


async def _on_loop(request: Request, work: Work) -> Response:
    """`work` on the event loop, from what the caches hold; off it only when it must read the store."""
    response = _attempt(request, work)
    if response is None:
        response = await off_the_loop(request, work)
    return response


def _attempt(request: Request, work: Work) -> Response | None:
    """`work` on the event loop; None when it stopped before reading the store (WouldBlock, only under `serve`).
    Its cache lookups are held apart meanwhile, so that only the run that answers counts them."""
    metrics = _service(request).metrics
    held = metrics.hold_lookups()
    try:
        response = work(request)
    except WouldBlock:
        metrics.drop_held(held)
        return None
    except Exception:  # an answer too: a refused key, an unknown model
        metrics.count_held(held)
        raise
    metrics.count_held(held)
    return response


async def off_the_loop(request: Request, work: Work) -> Response:
    """`work` again, now free to read the store: it stopped on the event loop before any I/O (WouldBlock), so the
    loop never waits on DynamoDB and a hung store holds up only the callers it must answer. It runs on a worker
    thread, in the store's turn. A request that had to wait for its turn tries the loop once more first: the read
    before it may have answered for it (the change marker was read, or the circuit opened).

    The worker renders too, from the Listing the loop may be rendering from: Listing adds under a lock."""
    service = _service(request)
    waited = service.store_turn.locked()
    async with service.store_turn:
        if waited and (response := _attempt(request, work)) is not None:
            return response
        # asyncio's own executor: starlette's threadpool would load anyio's asyncio backend on a cold call (~9 ms)
        return await asyncio.get_running_loop().run_in_executor(None, work, request)


def _service(request: Request) -> Service:
    service: Service = request.app.state.service
    return service


def _current_caller(request: Request) -> callers.Caller:
    # Called directly, not through Depends: FastAPI's dependency solving costs more than the whole lookup.
    # The peer address: Mangum sets it from API Gateway's source IP, uvicorn from the socket. Never X-Forwarded-For.
    caller = _service(request).resolver.resolve(credentials(request.scope))
    request.state.caller = caller
    return caller


def _answer(request: Request, document: Document) -> Response:
    settings = _service(request).settings
    return document_response(
        request, document, max_age=settings.client_max_age_seconds, gzip_min_bytes=settings.gzip_min_bytes
    )


def _dialect(request: Request) -> Dialect:
    """The dialect that answers; OpenAI's with the catalog's metadata when the deployment asks for it."""
    dialect = dialect_for(request.scope)
    if dialect is openai_dialect.DIALECT and _service(request).settings.openai_list_metadata:
        return openai_dialect.WITH_METADATA
    return dialect


# Each route answers on the event loop from what the caches hold; only a request that needs the store leaves it.
async def list_models(request: Request) -> Response:
    return await _on_loop(request, _list)


async def retrieve_model(request: Request) -> Response:
    return await _on_loop(request, _retrieve)


def _list(request: Request) -> Response:
    dialect = _dialect(request)
    request.state.dialect = dialect.name  # the metrics' Dialect dimension (handler/web/requestlog.py)
    caller = _current_caller(request)
    query = request.query_params
    return _answer(request, _service(request).access.page(caller, lambda listing: dialect.page(listing, query)))


def _retrieve(request: Request) -> Response:
    # Not a `model: str` parameter: it would build a pydantic field (and import pydantic.v1) at init. Not
    # path_params either: the route pattern ends in `$`, so a trailing newline falls off (`gpt-4o%0A` as `gpt-4o`).
    prefix = request.scope["route"].path.removesuffix(MODEL_SEGMENT)
    model: str = request.scope["path"].partition(prefix)[2]
    if not model:  # `/v1/models/` is the list, as most clients expect
        return _list(request)
    if not model.isascii() and not _is_text(model):  # a crafted Lambda event: a lone surrogate in the path
        raise BadRequest("The model id is not valid UTF-8.", param="model")
    dialect = _dialect(request)
    request.state.dialect = dialect.name
    caller = _current_caller(request)
    access = _service(request).access
    for candidate in dialect.candidates(model):
        try:
            return _answer(request, access.model(caller, candidate, dialect.name, dialect.model))
        except ModelNotFound:
            continue
    raise ModelNotFound(model)


class ModelGate(FastAPI):
    """FastAPI, with the `key` query parameter taken out before anything sees the request. An instrumentation
    wraps FastAPI's middleware stack from outside every middleware (OpenTelemetry's FastAPI instrumentation, which
    the ADOT layer turns on, records `url.query`), but it runs inside this call."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scrub_query_keys(scope)
        await super().__call__(scope, receive, send)


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def create_app(service: Service) -> FastAPI:
    app = ModelGate(title="modelgate", version="1.0.0", docs_url=None, redoc_url=None)
    app.state.service = service
    for prefix in MODEL_ROUTES:
        retrieve = f"{prefix}/{MODEL_SEGMENT}"
        for path, endpoint, responses, parameters, summary in (
            (prefix, list_models, openapi.list_responses, openapi.list_parameters, openapi.LIST_SUMMARY),
            (retrieve, retrieve_model, openapi.model_responses, openapi.model_parameters, openapi.MODEL_SUMMARY),
        ):
            app.add_api_route(
                path,
                endpoint,
                methods=["GET"],
                response_class=Response,
                responses=responses(prefix),
                openapi_extra={"parameters": parameters(prefix)},
                summary=summary[prefix],
            )
            # HEAD: GET's answer without the body. Its own route, out of the schema (one operation per route).
            app.add_api_route(path, endpoint, methods=["HEAD"], response_class=Response, include_in_schema=False)
    errors.install(app)  # the innermost middleware: an unexpected error ends there, as a 500
    app.add_middleware(
        CorsMiddleware,
        allow_origins=service.settings.cors_allow_origins,
        credential_origins=service.settings.cors_credential_origins,
    )
    return app
