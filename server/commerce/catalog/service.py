"""Products for sale, and what orders ask of the catalog: priced lines and stock.

`lines_for_checkout`, `reserve_stock` and `release_stock` are the orders domain's door into
the catalog; they run inside the caller's unit of work and never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.catalog import Product
from server.commerce.catalog.errors import (
    InvalidQuantity,
    MixedCurrency,
    OutOfStock,
    ProductUnavailable,
)

__all__ = [
    "Line",
    "MixedCurrency",
    "OutOfStock",
    "ProductUnavailable",
    "lines_for_checkout",
    "release_stock",
    "reserve_stock",
]

# More than this many of one physical good in one order is a typo, not a purchase.
MAX_QUANTITY = 999


@dataclass(frozen=True, slots=True)
class Line:
    """One product at its current price, as an order line."""

    product_id: int
    creator_id: int | None
    kind: str
    title: str
    unit_price: int
    quantity: int
    currency: str
    content_id: int | None
    credits: int | None
    interval: str | None
    trial_days: int

    @property
    def amount(self) -> int:
        return self.unit_price * self.quantity


def _check_quantities(items: list[tuple[int, int]]) -> None:
    if not items:
        raise InvalidQuantity("Nothing to buy.", fields={"items": "At least one product."})
    seen: set[int] = set()
    for product_id, quantity in items:
        if product_id in seen:
            raise InvalidQuantity(fields={"items": f"Product {product_id} is listed twice."})
        seen.add(product_id)
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidQuantity(fields={"items": f"Quantity must be 1 to {MAX_QUANTITY}."})


async def lines_for_checkout(session: AsyncSession, *, items: list[tuple[int, int]]) -> list[Line]:
    """(product_id, quantity) pairs -> priced lines in the same order; every product must be
    active, non-physical products come one at a time, and all share one currency."""
    _check_quantities(items)
    ids = [product_id for product_id, _ in items]
    rows = (await session.scalars(select(Product).where(Product.id.in_(ids)))).all()
    products = {row.id: row for row in rows}
    missing = [pid for pid in ids if pid not in products or products[pid].status != "active"]
    if missing:
        raise ProductUnavailable(f"Not for sale: {', '.join(map(str, missing))}.")
    lines = []
    for product_id, quantity in items:
        product = products[product_id]
        if product.kind != "physical" and quantity != 1:
            raise InvalidQuantity(fields={"items": f"Product {product_id} is sold one at a time."})
        lines.append(line_of(product, quantity))
    if len({line.currency for line in lines}) > 1:
        raise MixedCurrency()
    return lines


def line_of(product: Product, quantity: int) -> Line:
    return Line(
        product_id=product.id,
        creator_id=product.creator_id,
        kind=product.kind,
        title=product.title,
        unit_price=product.price,
        quantity=quantity,
        currency=product.currency,
        content_id=product.content_id,
        credits=product.credits,
        interval=product.interval,
        trial_days=product.trial_days,
    )


async def reserve_stock(session: AsyncSession, *, product_id: int, quantity: int) -> None:
    """Take `quantity` from a physical good's stock (a guarded update: never below zero);
    products without stock (unlimited, or not physical) pass. OutOfStock otherwise."""
    taken = cast(
        CursorResult[Any],
        await session.execute(
            update(Product)
            .where(Product.id == product_id, Product.stock.is_not(None))
            .where(Product.stock >= quantity)
            .values(stock=Product.stock - quantity)
            .execution_options(synchronize_session=False)
        ),
    )
    if taken.rowcount == 1:
        return
    stock = (
        await session.execute(select(Product.stock).where(Product.id == product_id))
    ).one_or_none()
    if stock is None:
        raise ProductUnavailable()
    if stock[0] is not None:
        raise OutOfStock(f"Only {stock[0]} left of product {product_id}.")


async def release_stock(session: AsyncSession, *, product_id: int, quantity: int) -> None:
    """Give back what `reserve_stock` took (a cancelled or expired order)."""
    await session.execute(
        update(Product)
        .where(Product.id == product_id, Product.stock.is_not(None))
        .values(stock=Product.stock + quantity)
        .execution_options(synchronize_session=False)
    )
