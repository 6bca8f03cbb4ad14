"""Who is calling a route that is open to everyone."""

from __future__ import annotations

from aiohttp import web

from server.keys import SESSION_GUARD


async def viewer_id(request: web.Request) -> int | None:
    """The caller's user id, None when signed out; a bearer token that is sent must be valid
    (401 otherwise), so a client learns to refresh it rather than silently seeing less."""
    if "Authorization" not in request.headers:
        return None
    return await request.app[SESSION_GUARD](request)
