"""Every typed key stored on the aiohttp application."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from server.metrics import Metrics
from server.runtime import Runtime
from server.settings import Settings

if TYPE_CHECKING:
    from server.http.guards import Principal
    from server.http.ratelimit import RateLimiter
    from server.http.registry import RouteRegistry
    from server.identity.auth.sessions import SessionGuard
    from server.identity.auth.tokens import TokenService

SETTINGS = web.AppKey("settings", Settings)
METRICS = web.AppKey("metrics", Metrics)
RUNTIME = web.AppKey("runtime", Runtime)
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
ROUTES: web.AppKey[RouteRegistry] = web.AppKey("routes")
TOKENS: web.AppKey[TokenService] = web.AppKey("tokens")
SESSION_GUARD: web.AppKey[SessionGuard] = web.AppKey("session_guard")
# The Socket.IO server and the job runner belong to other wings; the app only holds them.
SOCKETS: web.AppKey[Any] = web.AppKey("sockets")
JOB_RUNNER: web.AppKey[Any] = web.AppKey("job_runner")

# Per-request values.
REQUEST_ID = web.RequestKey("request_id", str)
USER_ID = web.RequestKey("user_id", int)
PRINCIPAL: web.RequestKey[Principal] = web.RequestKey("principal")
