"""CORS for the HTTP API.

Written here rather than taken from aiohttp-middlewares: that middleware omits `Vary: Origin`
(so a shared cache can serve one origin's response to another) and costs about a sixth of a
cheap request in per-request URL regex matching and debug-log records.
"""

from __future__ import annotations

from aiohttp import web

ALLOW_METHODS = "DELETE, GET, OPTIONS, PATCH, POST, PUT"
ALLOW_HEADERS = (
    "accept, accept-language, authorization, content-type, idempotency-key, x-request-id"
)
EXPOSE_HEADERS = "X-Request-ID, Retry-After, Idempotent-Replayed"
MAX_AGE = "600"
CORS_PREFIXES = ("/api/", "/healthz", "/readyz")


class CorsPolicy:
    """Which origins may call the API from a browser, with credentials."""

    def __init__(self, origins: list[str], *, allow_any: bool = False) -> None:
        self.origins = frozenset(origin.rstrip("/") for origin in origins)
        self.allow_any = allow_any

    def allows(self, origin: str) -> bool:
        return self.allow_any or origin in self.origins

    @staticmethod
    def applies_to(path: str) -> bool:
        return path.startswith(CORS_PREFIXES)

    def preflight(self, request: web.Request) -> web.Response | None:
        """The answer to a preflight request, or None when `request` is not one."""
        if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
            return None
        origin = request.headers.get("Origin", "")
        response = web.Response(status=204, headers={"Vary": "Origin"})
        if origin and self.allows(origin):
            response.headers.update(
                {
                    "Access-Control-Allow-Origin": origin,
                    "Access-Control-Allow-Credentials": "true",
                    "Access-Control-Allow-Methods": ALLOW_METHODS,
                    "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE,
                }
            )
        return response

    def decorate(self, origin: str | None, response: web.StreamResponse) -> None:
        """Add the headers of an actual (non-preflight) cross-origin response."""
        if origin is None:
            return
        headers = response.headers
        headers.add("Vary", "Origin")
        if self.allows(origin):
            headers["Access-Control-Allow-Origin"] = origin
            headers["Access-Control-Allow-Credentials"] = "true"
            headers["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
