"""The composition root: the one place that wires the whole application."""

from __future__ import annotations

import re

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp_middlewares import cors_middleware
from aiohttp_middlewares.cors import DEFAULT_ALLOW_HEADERS

from realtime.server import create_socket_server
from server.http import system
from server.http.idempotency import idempotent
from server.http.limits import limit_per_account, limit_per_ip
from server.http.middleware import observe
from server.http.registry import RouteRegistry, RouteTable
from server.keys import METRICS, ROUTES, SETTINGS, SOCKETS
from server.metrics import Metrics
from server.resources import jobs_ctx, rate_limit_ctx, runtime_ctx
from server.settings import Settings

# Domains add their route tables here, in the order they appear in the API document.
ROUTE_TABLES = [system.routes]


def cors(settings: Settings) -> Middleware:
    """CORS for the HTTP API; Socket.IO checks origins itself."""
    return cors_middleware(
        allow_all=not settings.cors_origins and settings.environment != "production",
        origins=settings.cors_origins,
        urls=[re.compile(r"^/(api|healthz|readyz)")],
        allow_headers=(*DEFAULT_ALLOW_HEADERS, "idempotency-key", "x-request-id"),
        expose_headers=("X-Request-ID", "Retry-After", "Idempotent-Replayed"),
        allow_credentials=True,
        max_age=600,
    )


def create_app(
    settings: Settings | None = None, *, route_tables: list[RouteTable] | None = None
) -> web.Application:
    settings = settings or Settings()
    app = web.Application(
        middlewares=[cors(settings), observe, limit_per_ip],
        client_max_size=settings.max_body_bytes,
    )
    app[SETTINGS] = settings
    app[METRICS] = Metrics()

    registry = RouteRegistry()
    for table in ROUTE_TABLES if route_tables is None else route_tables:
        registry.include(table)
    registry.before_handler.append(limit_per_account)
    registry.around_handler = idempotent
    registry.mount(app)
    app[ROUTES] = registry
    system.add_plain_routes(app)

    sockets = create_socket_server(settings)
    sockets.attach(app)
    app[SOCKETS] = sockets

    app.cleanup_ctx.extend([runtime_ctx, rate_limit_ctx, jobs_ctx])
    return app
