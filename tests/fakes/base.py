"""What every fake gateway shares: a route table others can extend, a call log, outages."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from server.clock import Clock
from server.runtime import Runtime

Handler = Callable[[web.Request, dict[str, str]], Awaitable[web.StreamResponse]]
# Where the Chinese gateways live: their times are Beijing times.
BEIJING = ZoneInfo("Asia/Shanghai")


@dataclass
class Call:
    method: str
    path: str
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


class FakeGateway:
    """A small aiohttp app: `on(method, path_regex, handler)` adds or replaces an endpoint.

    `fail_next` answers that many requests with 503 (an outage); `calls` records every request
    that reached a handler. The times it reports (payment, transfer, notification) are the
    wall clock's until `follow(runtime)` makes them the app's clock, as a test may move it.
    """

    def __init__(self) -> None:
        self.app = web.Application()
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self.calls: list[Call] = []
        self.fail_next = 0
        self.base_url = ""
        self._clock: Callable[[], datetime] = Clock().now

    def follow(self, runtime: Runtime) -> None:
        """Take times from `runtime.clock`, whichever clock a test gives it later."""
        self._clock = lambda: runtime.clock.now()

    def now(self) -> datetime:
        return self._clock()

    def on(self, method: str, path: str, handler: Handler) -> None:
        """Serve `method path` (a regex with named groups) with `handler(request, groups)`."""
        pattern = re.compile(f"^{path}$")
        self.routes = [r for r in self.routes if not (r[0] == method and r[1] == pattern)]
        self.routes.insert(0, (method, pattern, handler))

    def calls_to(self, path_prefix: str) -> list[Call]:
        return [c for c in self.calls if c.path.startswith(path_prefix)]

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(status=503, text="unavailable")
        for method, pattern, handler in self.routes:
            match = pattern.match(request.path)
            if method == request.method and match:
                return await handler(request, match.groupdict())
        return web.json_response({"code": "NOT_FOUND", "message": request.path}, status=404)


async def start(fake: FakeGateway, aiohttp_server: Any) -> FakeGateway:
    """Serve `fake` on a local port (pytest-aiohttp's `aiohttp_server` fixture) and note its URL."""
    server = await aiohttp_server(fake.app)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake
