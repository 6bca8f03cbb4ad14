"""Applying the general rate limits: per IP in the pipeline, per account after authentication."""

from __future__ import annotations

from aiohttp import web

from server.http.registry import Route
from server.keys import RATE_LIMITER, USER_ID


def client_ip(request: web.Request, trust_forwarded_for: bool = False) -> str:
    """The caller's address; X-Forwarded-For only behind a proxy we were told to trust."""
    if trust_forwarded_for:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return request.remote or "unknown"


async def limit_per_account(request: web.Request, route: Route) -> None:
    user_id = request.get(USER_ID)
    if user_id is not None:
        request.app[RATE_LIMITER].check_account(user_id)
