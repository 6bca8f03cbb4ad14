"""Applying the general rate limits: per IP in the middleware, per account after authentication."""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from server.http.registry import Route
from server.keys import RATE_LIMITER, SETTINGS, USER_ID

# Probes and scrapes are not clients; limiting them would only blind operators.
EXEMPT_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def client_ip(request: web.Request) -> str:
    if request.app[SETTINGS].trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


@web.middleware
async def limit_per_ip(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path not in EXEMPT_PATHS:
        request.app[RATE_LIMITER].check_ip(client_ip(request))
    return await handler(request)


async def limit_per_account(request: web.Request, route: Route) -> None:
    user_id = request.get(USER_ID)
    if user_id is not None:
        request.app[RATE_LIMITER].check_account(user_id)
