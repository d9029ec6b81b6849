"""Hardening fixtures: the real Lambda entry (handler.main) on moto, and the app over HTTP, once per module.

Module scope, because the hostile and fuzz tables send hundreds of requests: each reads the same seeded world.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from infra.apply import apply_seed
from infra.registry import Registry
from infra.seed import parse_seed
from infra.table import create_table
from tests.conftest import TABLE, settings_for
from tests.support import world
from tests.support.server import LocalServer, fresh_table, serve

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


@pytest.fixture(scope="module")
def world_table() -> Iterator[Registry]:
    """moto's in-process DynamoDB with the seeded world, shared by a module (tests that edit items restore them)."""
    with pytest.MonkeyPatch.context() as env, mock_aws():
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_table(client, TABLE)
        registry = Registry(client, TABLE, sleep=lambda _: None)
        apply_seed(parse_seed(world.world_document()), registry)
        yield registry


@contextmanager
def imported_entry(**environment: str) -> Iterator[ModuleType]:
    """`handler.main`, imported as Lambda imports it: settings from `environment` (TABLE_NAME is the world table).

    Its import sets logger levels; they are put back when the block ends.
    """
    loggers = [logging.getLogger(name) for name in ("modelgate", "botocore", "mangum.http")]
    levels = [logger.level for logger in loggers]
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TABLE_NAME", TABLE)
        env.delenv("DYNAMODB_ENDPOINT_URL", raising=False)
        for name, value in environment.items():
            env.setenv(name, value)
        import handler.main  # noqa: PLC0415  # its import reads the environment set above

        main = importlib.reload(handler.main)
    try:
        yield main
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@pytest.fixture(scope="module")
def lambda_entry(world_table: Registry) -> Iterator[LambdaHandler]:
    """The real Lambda entry `handler.main.handler` over the world table, SESSION_SECRET from the environment."""
    with imported_entry(SESSION_SECRET=world.SESSION_SECRET) as main:
        yield main.handler


@pytest.fixture(scope="module")
def http_service(moto_endpoint: str) -> Iterator[LocalServer]:
    """The app under uvicorn on loopback, reading a seeded table on moto's server mode."""
    table, _ = fresh_table(moto_endpoint)
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint)) as server:
        yield server
