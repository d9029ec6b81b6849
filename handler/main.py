"""The Lambda entry point: `handler.main.handler`. Everything here runs once per container, at init."""

from __future__ import annotations

import logging
import os
import random

from mangum import Mangum

from handler.settings import Settings
from handler.store.dynamodb import DynamoDirectory
from handler.web.app import create_app
from handler.wiring import build_service, dynamodb_client

logging.getLogger("modelgate").setLevel(os.environ.get("MODELGATE_LOG_LEVEL", "INFO").upper())

settings = Settings.from_env()
service = build_service(settings)
app = create_app(service)
# lifespan="off": Mangum would otherwise run the ASGI lifespan on every invocation.
handler = Mangum(app, lifespan="off")


def _after_restore() -> None:
    """SnapStart: sockets opened before the snapshot are dead, and seeded randomness would repeat."""
    random.seed()
    if isinstance(service.store, DynamoDirectory):
        service.store.client = dynamodb_client(settings)


try:
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found]  # Lambda runtime only
except ImportError:
    pass
else:
    register_after_restore(_after_restore)
