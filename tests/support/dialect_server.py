"""The dialects' world served over HTTP (uvicorn on moto's server mode), for the tests of the real clients."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.conftest import settings_for
from tests.support import expected
from tests.support.server import LocalServer, fresh_table, serve


def dialect_table(moto_endpoint: str) -> str:
    """A fresh table: the test world, its orphan and revoked records, and the `claude` group with its keys."""
    table, registry = fresh_table(moto_endpoint)
    expected.extend_world(registry)
    expected.extend_dialect_world(registry)
    return table


@contextmanager
def dialect_server(moto_endpoint: str, table: str, **overrides: Any) -> Iterator[LocalServer]:
    with serve(settings_for(table_name=table, dynamodb_endpoint_url=moto_endpoint, **overrides)) as server:
        yield server
