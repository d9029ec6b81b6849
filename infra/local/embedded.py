"""An in-memory DynamoDB on loopback: moto's server in a thread. No Docker, no AWS account."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterable
from types import TracebackType
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


class EmbeddedDynamoDB:
    """`with EmbeddedDynamoDB() as db: db.endpoint_url` - other processes (the CLI) can reach it too."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        # moto is heavy; only serve needs it
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server  # noqa: PLC0415

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per DynamoDB call otherwise

        self.host = host
        self.port = port or free_port(host)
        moto = DomainDispatcherApplication(create_backend_app)
        one_at_a_time = threading.Lock()

        # moto's DynamoDB is unsafe under concurrent requests: a cancelled transaction puts back the whole table as
        # it was when the transaction began, undoing writes that committed meanwhile. One request at a time makes
        # it behave as one engine does (connections are still accepted in parallel).
        def serialized(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            with one_at_a_time:
                return list(moto(environ, start_response))

        self._server = make_server(host, self.port, serialized, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> EmbeddedDynamoDB:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()
        self._server.server_close()

    def __enter__(self) -> EmbeddedDynamoDB:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
