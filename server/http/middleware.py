"""The request pipeline: request id, access log, metrics and the error envelope in one pass."""

from __future__ import annotations

import os
import re
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from pydantic import ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server.db import is_unavailable
from server.http.errors import (
    ApiError,
    InternalError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
    error_response,
)
from server.http.validation import validation_error
from server.keys import METRICS, REQUEST_ID

log = structlog.get_logger("server.http")

REQUEST_ID_HEADER = "X-Request-ID"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{8,64}$")
_HTTP_ERRORS: dict[int, type[ApiError]] = {
    404: NotFound,
    405: MethodNotAllowed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
}


def new_request_id() -> str:
    return os.urandom(12).hex()


def to_api_error(exc: BaseException) -> ApiError | None:
    """Map anything raised by a handler to the error a client sees; None means a bug (500)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return validation_error(exc)
    if isinstance(exc, web.HTTPException):
        cls = _HTTP_ERRORS.get(exc.status)
        if cls is not None:
            return cls()
        return ApiError(exc.reason, code=f"http.{exc.status}", status=exc.status)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError) or is_unavailable(exc):
        return ServiceUnavailable()
    return None


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give each request an id, answer every failure in the envelope, log and measure it."""
    incoming = request.headers.get(REQUEST_ID_HEADER)
    request_id = incoming if incoming and _SAFE_REQUEST_ID.match(incoming) else new_request_id()
    request[REQUEST_ID] = request_id
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = error_response(to_api_error(exc) or InternalError(), request_id)
    except Exception as exc:
        error = to_api_error(exc)
        if error is None:
            log.exception("http.unhandled", request_id=request_id, path=request.path)
            error = InternalError()
        elif error.status >= 500:
            log.warning("http.unavailable", request_id=request_id, error=repr(exc))
        response = error_response(error, request_id)
    response.headers[REQUEST_ID_HEADER] = request_id
    elapsed = time.perf_counter() - started
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "<unmatched>"
    request.app[METRICS].observe_request(route, request.method, response.status, elapsed)
    log.info(
        "http.request",
        request_id=request_id,
        method=request.method,
        route=route,
        status=response.status,
        ms=round(elapsed * 1000, 2),
    )
    return response
