"""Errors of orders, answered in the contract shape."""

from __future__ import annotations

from server.http.errors import Conflict, NotFound, ValidationFailed


class OrderNotFound(NotFound):
    code, message = "orders.not_found", "No such order."


class IllegalTransition(Conflict):
    code, message = "orders.illegal_transition", "The order cannot change to this state now."


class EmptyCart(ValidationFailed):
    code, message = "orders.empty_cart", "The cart is empty."


class PaymentMismatch(Conflict):
    """A payment whose amount or currency is not the order's: nothing changes."""

    code, message = "orders.payment_mismatch", "The payment does not match the order."


class RefundTooLarge(ValidationFailed):
    code, message = "orders.refund_too_large", "The refund is more than what is left to refund."
