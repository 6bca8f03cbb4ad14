"""Every answer says nosniff and no framing, names no server version, and answers for one
account are not cached; the API viewers get a CSP that still lets their bundled assets work."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from typing import Any

import pytest

from server.keys import RUNTIME
from tests.helpers.profiles import sign_up

WEBSOCKET = {
    "Connection": "Upgrade",
    "Upgrade": "websocket",
    "Sec-WebSocket-Version": "13",
    "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
}


def assert_secured(headers: Any, what: str) -> None:
    assert headers["X-Content-Type-Options"] == "nosniff", what
    assert headers["X-Frame-Options"] == "DENY", what
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"], what
    assert headers["Server"] == "ShareStack", what


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/meta", 200),
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
        ("GET", "/api/openapi.json", 200),
        ("GET", "/api/docs/static/swagger/swagger-ui.css", 200),
        ("GET", "/api/v1/nothing-here", 404),
        ("DELETE", "/api/v1/meta", 405),
        ("GET", "/api/v1/probe/boom", 500),
        ("GET", "/api/v1/probe/whoami", 401),
        ("POST", "/api/v1/probe/echo", 401),
        # engine.io's own answers (a polling session would outlive the test: no 200 here).
        ("GET", "/socket.io/?EIO=3&transport=polling", 400),
        ("GET", "/socket.io/?EIO=4&transport=polling&sid=gone", 400),
    ],
)
async def test_every_answer_carries_the_security_headers_and_no_version(
    probe_client, method: str, path: str, status: int
) -> None:
    response = await probe_client.request(method, path)
    assert response.status == status
    assert_secured(response.headers, path)


async def test_the_websocket_handshake_names_no_version_either(probe_client) -> None:
    socket = await probe_client.ws_connect("/socket.io/?EIO=4&transport=websocket")
    try:
        assert socket._response.status == 101
        assert socket._response.headers["Server"] == "ShareStack"
    finally:
        await socket.close()


async def test_a_malformed_request_answered_before_routing_names_no_version(probe_client) -> None:
    reader, writer = await asyncio.open_connection(probe_client.host, probe_client.port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n")
    await writer.drain()
    head = (await asyncio.wait_for(reader.read(4096), 5)).decode("latin-1")
    writer.close()
    assert re.match(r"HTTP/1\.[01] 400 ", head), head
    server = re.search(r"^Server: (.*)$", head, re.MULTILINE | re.IGNORECASE)
    assert server is not None and server.group(1).strip() == "ShareStack", head
    assert "aiohttp" not in head.lower() and "python" not in head.lower()


async def test_answers_for_an_authenticated_user_are_not_stored(probe_client) -> None:
    signed_in = {"Authorization": "Bearer x", "X-Test-User": "7"}  # the probe's authentication
    response = await probe_client.get("/api/v1/probe/whoami", headers=signed_in)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_signed_in_users_own_profile_is_not_stored(client) -> None:
    person = await sign_up(client, "Cached")
    response = await client.get("/api/v1/me", headers=person.headers)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/api/v1/meta", "/api/v1/probe/whoami"])
async def test_answers_to_a_request_with_credentials_are_not_stored(probe_client, path) -> None:
    response = await probe_client.get(path, headers={"Authorization": "Bearer not-a-token"})
    assert response.headers["Cache-Control"] == "no-store"


async def test_anonymous_public_answers_keep_their_cacheability(probe_client) -> None:
    response = await probe_client.get("/api/v1/meta")
    assert "Cache-Control" not in response.headers


async def test_a_route_that_sets_its_own_cache_and_content_policy_keeps_them(probe_client) -> None:
    await probe_client.app[RUNTIME].storage.put("public/avatars/1/own-256.webp", b"RIFF....WEBP")
    signed_in = {"Authorization": "Bearer x", "X-Test-User": "7"}  # the probe's authentication
    response = await probe_client.get("/files/public/avatars/1/own-256.webp", headers=signed_in)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Server"] == "ShareStack"


def directives(policy: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


_SCRIPT = re.compile(r"<script(?P<attrs>[^>]*)>(?P<body>.*?)</script>", re.DOTALL)
_STYLESHEET = re.compile(r"""<link[^>]*rel=["']stylesheet["'][^>]*href=["']([^"']+)["']""")


@pytest.mark.parametrize("page", ["/api/docs", "/api/redoc"])
async def test_the_docs_pages_have_a_csp_that_lets_their_bundled_assets_work(
    probe_client, page: str
) -> None:
    response = await probe_client.get(page)
    assert response.status == 200
    assert_secured(response.headers, page)
    policy = directives(response.headers["Content-Security-Policy"])
    assert policy["default-src"] == ["'none'"]
    html = await response.text()
    # Every external script and stylesheet is same-origin, so 'self' covers it, and is served.
    scripts = _SCRIPT.findall(html)
    assert scripts
    external = [re.search(r'src="([^"]+)"', attrs) for attrs, _ in scripts]
    sheets = _STYLESHEET.findall(html)
    for url in [m.group(1) for m in external if m] + sheets:
        assert url.startswith("/") and not url.startswith("//"), url
        assert (await probe_client.get(url)).status == 200, url
    assert "'self'" in policy["script-src"] and "'self'" in policy["style-src"]
    # Every inline script is allowed by its hash; nothing needs eval or a remote host.
    for attrs, body in scripts:
        if "src=" not in attrs:
            digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
            assert f"'sha256-{digest}'" in policy["script-src"], body
    assert "'unsafe-eval'" not in policy["script-src"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert not re.search(r"https?:|\*", response.headers["Content-Security-Policy"])
    # The viewers style at run time, fetch the document, draw data: icons; ReDoc searches
    # in a worker made from a Blob.
    assert "'unsafe-inline'" in policy["style-src"]
    assert "'self'" in policy["connect-src"] and "/api/openapi.json" in html
    assert "data:" in policy["img-src"]
    assert "blob:" in policy["worker-src"]
    assert "'none'" in policy["frame-ancestors"]
