"""The request pipeline, in one middleware: request id, CORS, per-IP limit, errors, metrics, log.

One middleware rather than a stack of them: each aiohttp middleware layer costs a coroutine and
a call per request, and on a cheap public endpoint the plumbing would outweigh the work.
"""

from __future__ import annotations

import itertools
import os
import re
import time

import structlog
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler, Middleware
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.db import is_unavailable
from server.http.cors import CorsPolicy
from server.http.errors import (
    ApiError,
    BadRequest,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_response,
)
from server.http.limits import client_ip
from server.keys import METRICS, RATE_LIMITER, REQUEST_ID

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_HTTP_ERRORS: dict[int, type[ApiError]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}
# Probes and scrapes are not clients; limiting them would only blind operators.
UNLIMITED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

# Request ids: a random per-process prefix and a counter; unique, cheap, and not guessable
# across processes.
_ID_PREFIX = os.urandom(6).hex()
_id_counter = itertools.count(1)


def new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):010x}"


def to_api_error(exc: BaseException) -> ApiError | None:
    """Map anything raised by a handler to the error a client sees; None means a bug (500)."""
    if isinstance(exc, ApiError):
        return exc
    # A pydantic ValidationError here is a server bug (requests are validated by the registry
    # and turned into 422s there), so it stays a 500.
    if isinstance(exc, web.HTTPException):
        cls = _HTTP_ERRORS.get(exc.status)
        if cls is not None:
            return cls()
        return ApiError(exc.reason, code=f"http.{exc.status}", status=exc.status)
    if isinstance(exc, HttpProcessingError):
        # aiohttp parses some of the request lazily (multipart part headers, chunked or
        # compressed bodies): what it finds malformed there surfaces in the handler.
        return BadRequest("The request is malformed.")
    if isinstance(exc, RedisConnectionError | RedisTimeoutError) or is_unavailable(exc):
        return ServiceUnavailable()
    return None


def pipeline(
    cors: CorsPolicy, *, access_log: bool = True, trust_forwarded_for: bool = False
) -> Middleware:
    """The middleware; `access_log=False` skips the per-request log call when INFO is off."""
    log = structlog.get_logger("server.http")  # one per application, cached on first use

    @web.middleware
    async def handle(request: web.Request, handler: Handler) -> web.StreamResponse:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        if incoming is not None and _SAFE_REQUEST_ID.match(incoming):
            request_id = incoming
        else:
            request_id = new_request_id()
        request[REQUEST_ID] = request_id
        app = request.app
        started = time.perf_counter()
        path = request.path
        origin = request.headers.get("Origin") if cors.applies_to(path) else None
        try:
            preflight = cors.preflight(request) if origin is not None else None
            if preflight is not None:
                response: web.StreamResponse = preflight
            else:
                if path not in UNLIMITED_PATHS:
                    app[RATE_LIMITER].check_ip(client_ip(request, trust_forwarded_for))
                response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = error_response(to_api_error(exc) or InternalError(), request_id)
        except Exception as exc:
            error = to_api_error(exc)
            if error is None:
                log.exception("http.unhandled", request_id=request_id, path=path)
                error = InternalError()
            elif error.status >= 500:
                log.warning("http.unavailable", request_id=request_id, error=repr(exc))
            response = error_response(error, request_id)
        response.headers[REQUEST_ID_HEADER] = request_id
        cors.decorate(origin, response)
        elapsed = time.perf_counter() - started
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "<unmatched>"
        app[METRICS].observe_request(route, request.method, response.status, elapsed)
        if access_log:
            log.info(
                "http.request",
                request_id=request_id,
                method=request.method,
                route=route,
                status=response.status,
                ms=round(elapsed * 1000, 2),
            )
        return response

    return handle
