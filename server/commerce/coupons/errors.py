"""Errors of coupons."""

from __future__ import annotations

from server.http.errors import Conflict, NotFound, ValidationFailed


class CouponInvalid(ValidationFailed):
    """The coupon cannot be used for this purchase; the message says why."""

    code, message = "coupons.invalid", "This coupon cannot be used."


class CouponNotFound(NotFound):
    code, message = "coupons.not_found", "No such coupon."


class CodeTaken(Conflict):
    code, message = "coupons.code_taken", "Another coupon has this code."
