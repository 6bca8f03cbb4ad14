"""One error hierarchy and the envelope every failure is answered with."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web


class ApiError(Exception):
    """A failure a client can act on. Domains subclass it with their own code and status."""

    status: int = 400
    code: str = "request.invalid"
    message: str = "The request is invalid."

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.message
        self.code = code or self.code
        self.status = status or self.status
        self.fields = fields
        self.headers = headers or {}
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields is not None:
            error["fields"] = self.fields
        return {"error": error}


class BadRequest(ApiError):
    status, code, message = 400, "request.invalid", "The request is invalid."


class InvalidJson(ApiError):
    status, code, message = 400, "request.invalid_json", "The body is not valid JSON."


class Unauthorized(ApiError):
    status, code, message = 401, "auth.unauthorized", "Authentication is required."


class Forbidden(ApiError):
    status, code, message = 403, "auth.forbidden", "You may not do this."


class NotFound(ApiError):
    status, code, message = 404, "not_found", "Nothing exists at this address."


class MethodNotAllowed(ApiError):
    status, code, message = 405, "method_not_allowed", "This method is not allowed here."


class Conflict(ApiError):
    status, code, message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLarge(ApiError):
    status, code, message = 413, "request.too_large", "The request body is too large."


class UnsupportedMediaType(ApiError):
    status, code, message = (
        415,
        "request.unsupported_media_type",
        "Send the body as application/json.",
    )


class ValidationFailed(ApiError):
    status, code, message = 422, "request.validation", "Some fields are invalid."


class RateLimited(ApiError):
    status, code, message = 429, "rate_limited", "Too many requests; retry later."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = retry_after


class ServiceUnavailable(ApiError):
    """Nothing was done; the client may retry the same request after `Retry-After` seconds."""

    status, code, message = 503, "service.unavailable", "A service is unavailable; retry later."
    retry_after: int = 2

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(self.retry_after))


class InternalError(ApiError):
    status, code, message = 500, "internal", "internal error"


def error_response(error: ApiError, request_id: str | None = None) -> web.Response:
    body = error.body()
    if isinstance(error, InternalError) and request_id:
        body["error"]["message"] = f"internal error (request id {request_id})"
    return web.Response(
        body=orjson.dumps(body),
        status=error.status,
        content_type="application/json",
        headers=error.headers,
    )


# Every status a client may meet, for the OpenAPI document.
STATUS_DESCRIPTIONS = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Body too large",
    415: "Unsupported media type",
    422: "Validation failed",
    429: "Rate limited (see Retry-After)",
    500: "Internal error",
    503: "Service unavailable",
}
