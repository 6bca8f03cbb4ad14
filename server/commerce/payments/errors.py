"""Failures of payment requests and callbacks (a gateway call's own: gateway_clients.errors)."""

from __future__ import annotations

from server.http.errors import ApiError, Conflict, ServiceUnavailable, ValidationFailed


class CallbackRejected(Exception):
    """A callback failed verification or does not match what we asked for; nothing changes."""

    def __init__(self, reason: str, *, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class ProviderUnavailable(ApiError):
    status, code, message = 422, "payments.provider_unavailable", "This payment method is off."


class PaymentNotAllowed(Conflict):
    code, message = "payments.not_payable", "This order cannot be paid now."


class RefundNotAllowed(Conflict):
    code, message = "payments.refund_not_allowed", "This order cannot be refunded now."


class RefundTooLarge(ValidationFailed):
    code, message = "payments.refund_too_large", "The refund is larger than what is left."


class GatewayDown(ServiceUnavailable):
    code, message = "payments.gateway_unavailable", "The payment gateway did not answer."
