"""Security headers on every answer, and a Server header that names no versions.

Set in `on_response_prepare` rather than in the pipeline middleware: that hook also sees what
never returns through the middleware (the websocket handshake, responses a handler prepares
itself), right before the headers go out.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

from aiohttp import web, web_response

SERVER_NAME = "ShareStack"
ALWAYS = {"Server": SERVER_NAME, "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
# JSON, files and the sandbox page: nothing loads, nothing frames us.
DEFAULT_POLICY = "default-src 'none'; frame-ancestors 'none'"


def docs_policy(inline_scripts: Iterable[str]) -> str:
    """The CSP of the Swagger UI and ReDoc pages: their bundled assets, nothing from elsewhere.

    Inline styles: both viewers style elements at run time (ReDoc through styled-components).
    `blob:` workers: ReDoc's search runs in a worker made from a Blob. Inline scripts are
    allowed by hash, one by one.
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in inline_scripts
    )
    return (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "worker-src 'self' blob:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


async def secure_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Add the headers every answer carries; a route's own CSP or cache policy is kept."""
    headers = response.headers
    headers.update(ALWAYS)
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = DEFAULT_POLICY
    # An answer for one account must not be kept by a browser or a shared cache. Credentials
    # come only in Authorization (server/identity/auth/sessions.py), so its presence marks such an
    # answer, refusals included; cheaper than a lookup in the request's own mapping.
    if "Authorization" in request.headers and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"


def hide_server_version() -> None:
    """Name no versions in the answers aiohttp gives before routing (malformed requests).

    aiohttp sets `Server: Python/3.x aiohttp/3.x` from this module constant, which is its only
    knob; routed answers get theirs from `secure_headers`.
    """
    web_response.SERVER_SOFTWARE = SERVER_NAME
