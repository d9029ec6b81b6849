"""The service over real HTTP: uvicorn in a thread, reading a table on moto's server mode (DynamoDB over HTTP)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import uvicorn
from starlette.types import ASGIApp

from handler.settings import Settings
from handler.web.app import create_app
from handler.wiring import build_service
from infra.apply import apply_seed
from infra.local.embedded import free_port
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.support import world

if TYPE_CHECKING:
    from fastapi import FastAPI
    from mypy_boto3_dynamodb.client import DynamoDBClient


def http_dynamodb(endpoint_url: str) -> DynamoDBClient:
    client: DynamoDBClient = boto3.client(
        "dynamodb",
        endpoint_url=endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    return client


def fresh_table(endpoint_url: str, document: dict[str, Any] | None = None) -> tuple[str, Registry]:
    """A new table (unique name) created from the template, with the test world (or `document`) applied."""
    table = f"modelgate-{uuid.uuid4().hex[:8]}"
    client = http_dynamodb(endpoint_url)
    create_table(client, table)
    registry = Registry(client, table, sleep=lambda _: None)
    apply_seed(parse_seed(world.world_document() if document is None else document), registry)
    return table, registry


@dataclass
class LocalServer:
    base_url: str
    settings: Settings


@contextmanager
def serve(
    settings: Settings,
    *,
    instrument: Callable[[FastAPI], object] | None = None,
    wrap: Callable[[ASGIApp], ASGIApp] | None = None,
) -> Iterator[LocalServer]:
    """Run the app for `settings` on a free loopback port until the block ends; `instrument` is given the app
    first, as an OpenTelemetry instrumentation would take it; `wrap`, when given, wraps it."""
    port = free_port()
    fastapi_app = create_app(build_service(settings))
    if instrument is not None:
        instrument(fastapi_app)
    app: ASGIApp = fastapi_app if wrap is None else wrap(fastapi_app)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, proxy_headers=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield LocalServer(f"http://127.0.0.1:{port}", settings)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
