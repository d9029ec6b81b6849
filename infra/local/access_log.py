"""`modelgate serve --access-log`: one line per request, for local debugging.

`GET /v1/models/{model:path} 200 1.4 ms`: the method, the route's template (never the raw path, which holds the
model id asked for, nor the query string, which may hold `?key=`), the status and the latency. No header is read,
so no credential can reach it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NO_ROUTE = "-"


class AccessLog:
    """ASGI middleware around the whole app, outside every other middleware, so each request gets one line."""

    def __init__(
        self,
        app: ASGIApp,
        routes: list[Any],
        out: TextIO | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.app = app
        self.routes = routes
        self.out = out
        self.clock = clock

    def route_of(self, scope: Scope) -> str:
        """The template of the route the request matches (or would, with another method), else `-`."""
        partial = NO_ROUTE
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return str(route.path)
            if match is Match.PARTIAL and partial == NO_ROUTE:
                partial = str(route.path)
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self.route_of(scope)  # before the app runs: routing adds to the scope
        started = self.clock()
        status = 500  # unless the app starts a response

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            elapsed_ms = (self.clock() - started) * 1000
            line = f"{scope['method']} {route} {status} {elapsed_ms:.1f} ms"
            print(line, file=self.out or sys.stdout, flush=True)
