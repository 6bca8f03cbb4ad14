"""Failures of a gateway call: no answer, an unverifiable answer, or a refusal."""

from __future__ import annotations


class GatewayError(Exception):
    """A gateway call failed; `retryable` says whether asking again later may succeed."""

    retryable = True

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status


class GatewayUnavailable(GatewayError):
    """No answer, a timeout or a 5xx: try again later."""


class GatewaySignatureInvalid(GatewayError):
    """The answer's signature did not verify: nothing in it may be trusted."""


class GatewayRejected(GatewayError):
    """The gateway refused the request (a business error with its own code)."""

    retryable = False
