"""Errors of the catalog, answered in the contract shape."""

from __future__ import annotations

from server.http.errors import Conflict, Forbidden, NotFound, ValidationFailed


class ProductNotFound(NotFound):
    code, message = "catalog.not_found", "No such product."


class NotOwner(Forbidden):
    code, message = "catalog.not_owner", "Only the product's creator or an admin may change it."


class ProductUnavailable(Conflict):
    code, message = "catalog.unavailable", "A product is not for sale."


class OutOfStock(Conflict):
    code, message = "catalog.out_of_stock", "Not enough stock left."


class MixedCurrency(ValidationFailed):
    code, message = "catalog.mixed_currency", "Products priced in different currencies."


class InvalidProduct(ValidationFailed):
    code, message = "catalog.invalid", "The product does not fit its kind."


class InvalidQuantity(ValidationFailed):
    code, message = "catalog.invalid_quantity", "The quantity does not fit the product."


class ContentHasProduct(Conflict):
    code, message = (
        "catalog.content_has_product",
        "The item already has a one-off product; change or archive that one.",
    )
