"""Process health, readiness, metrics, server facts and the API documentation pages."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Literal

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, SecretStr

from server import __version__
from server.http.errors import ApiError
from server.http.headers import docs_policy
from server.http.limits import client_ip
from server.http.openapi import build_openapi
from server.http.registry import RouteTable
from server.keys import METRICS, RATE_LIMITER, ROUTES, RUNTIME, SETTINGS

routes = RouteTable("system", "Health, readiness, metrics and server facts.")

CHECK_TIMEOUT = 2.0


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, Literal["ok", "unavailable", "not_configured"]]


class Meta(BaseModel):
    name: str
    version: str
    # How the server runs: `embedded` (one process, SQLite, in-process events and jobs) or
    # `services` (MariaDB and Redis, any number of web and worker processes).
    mode: Literal["embedded", "services"]
    # The deployment's ENVIRONMENT, independent of the mode.
    environment: Literal["development", "test", "production"]
    time: datetime


@routes.get("/healthz", response=Health, auth=False, summary="The process is alive")
async def healthz(request: web.Request) -> Health:
    return Health(status="ok")


@routes.get("/readyz", response=Readiness, auth=False, summary="Database and Redis answer")
async def readyz(request: web.Request) -> web.Response:
    runtime = request.app[RUNTIME]
    checks: dict[str, str] = {}
    try:
        await asyncio.wait_for(runtime.db.ping(), CHECK_TIMEOUT)
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    if runtime.redis is None:
        checks["redis"] = "not_configured"
    else:
        try:
            await asyncio.wait_for(runtime.redis.ping(), CHECK_TIMEOUT)
            checks["redis"] = "ok"
        except Exception:
            checks["redis"] = "unavailable"
    ready = "unavailable" not in checks.values()
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return web.json_response(body, status=200 if ready else 503, dumps=_dumps)


@routes.get("/api/v1/meta", response=Meta, auth=False, summary="Server name, version and time")
async def get_meta(request: web.Request) -> Meta:
    runtime = request.app[RUNTIME]
    settings = runtime.settings
    mode: Literal["embedded", "services"] = "embedded" if settings.embedded else "services"
    # Trusted values: construct without validation on this hot public endpoint.
    return Meta.model_construct(
        name="ShareStack",
        version=__version__,
        mode=mode,
        environment=settings.environment,
        time=runtime.clock.now(),
    )


class MetricsUnauthorized(ApiError):
    status, code, message = 401, "metrics.unauthorized", "A valid metrics token is required."


def metrics_token_matches(authorization: str | None, token: SecretStr | None) -> bool:
    """Whether `Authorization` carries the bearer `token`, compared in constant time."""
    if token is None or authorization is None:
        return False
    scheme, _, given = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Digests of UTF-8 bytes: compare_digest refuses non-ASCII str, and equal lengths hide
    # the token's own length.
    given_digest = hashlib.sha256(given.strip().encode("utf-8", "surrogateescape")).digest()
    expected = hashlib.sha256(token.get_secret_value().encode("utf-8", "surrogateescape"))
    return hmac.compare_digest(given_digest, expected.digest())


async def metrics(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    token = settings.metrics_token
    guarded = token is not None or settings.environment == "production"
    if guarded and not metrics_token_matches(request.headers.get("Authorization"), token):
        # Wrong guesses spend the caller's per-IP budget; a scraper with the token never does.
        ip = client_ip(request, settings.trust_forwarded_for)
        request.app[RATE_LIMITER].check_ip(ip)
        raise MetricsUnauthorized(headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


def _dumps(value: object) -> str:
    return orjson.dumps(value).decode()


# Documentation pages, from assets shipped in an installed package (no CDN).
_ASSETS = Path(str(resources.files("aiohttp_swagger3")))

# No validator badge: it would load an image from validator.swagger.io.
SWAGGER_INIT = 'SwaggerUIBundle({url: "/api/openapi.json", dom_id: "#ui", validatorUrl: null});'
SWAGGER_PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>ShareStack API</title>
<link rel="stylesheet" href="/api/docs/static/swagger/swagger-ui.css"></head>
<body><div id="ui"></div>
<script src="/api/docs/static/swagger/swagger-ui-bundle.js"></script>
<script>{SWAGGER_INIT}</script>
</body></html>"""

REDOC_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>ShareStack API</title></head>
<body><redoc spec-url="/api/openapi.json"></redoc>
<script src="/api/docs/static/redoc/redoc.standalone.js"></script>
</body></html>"""


DOCS_POLICY = docs_policy([SWAGGER_INIT])


def _page(html: str) -> Handler:
    async def page(request: web.Request) -> web.Response:
        headers = {"Content-Security-Policy": DOCS_POLICY}
        return web.Response(text=html, content_type="text/html", headers=headers)

    return page


def add_plain_routes(app: web.Application) -> None:
    """Routes outside the JSON API contract: metrics text, the spec and its viewers."""
    document: list[bytes] = []

    async def openapi_document(request: web.Request) -> web.Response:
        if not document:  # routes are fixed once the app runs: build the document once
            document.append(orjson.dumps(build_openapi(request.app[ROUTES])))
        return web.Response(body=document[0], content_type="application/json")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/openapi.json", openapi_document)
    app.router.add_get("/api/docs", _page(SWAGGER_PAGE))
    app.router.add_get("/api/redoc", _page(REDOC_PAGE))
    app.router.add_static("/api/docs/static/swagger", _ASSETS / "swagger_ui")
    app.router.add_static("/api/docs/static/redoc", _ASSETS / "redoc_ui")
