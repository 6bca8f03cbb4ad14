"""Errors of shipping, answered in the contract shape."""

from __future__ import annotations

from server.http.errors import Conflict, NotFound, ValidationFailed


class ShipmentNotFound(NotFound):
    code, message = "shipping.not_found", "No such shipment."


class IllegalShipmentMove(Conflict):
    code, message = "shipping.illegal_transition", "The shipment cannot change to this state now."


class RefundInProgress(Conflict):
    code, message = "shipping.refund_in_progress", "The order is being refunded: do not ship it."


class ReturnWindowPassed(Conflict):
    code, message = (
        "shipping.return_window_passed",
        "Returns may be asked for within REFUND_WINDOW_DAYS of delivery.",
    )


class ReturnRequired(Conflict):
    code, message = (
        "shipping.return_required",
        "The goods were shipped: ask the seller for a return before the refund.",
    )


class AddressRequired(ValidationFailed):
    code, message = "shipping.address_required", "An order of physical goods needs an address."

    def __init__(self) -> None:
        super().__init__(
            fields={"body.shipping_address": "An order of physical goods needs an address."}
        )
