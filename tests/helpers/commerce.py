"""Catalog helpers: products made through the API, orders paid through the orders service."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from models.commerce.orders import Order, OrderItem
from server.keys import RUNTIME
from tests.helpers.people import Person, call


async def product(api: TestClient, who: Person, **fields: Any) -> dict[str, Any]:
    """An active product; a credit pack unless `kind` says otherwise."""
    body: dict[str, Any] = {"kind": "credits", "title": "100 积分", "price": 1000, "credits": 100}
    if fields.get("kind") not in (None, "credits"):
        body.pop("credits")
    body.update({"status": "active", **fields})
    return await call(api, "POST", "/products", who, 201, json=body)


async def paid_order(
    api: TestClient, buyer: Person, *items: tuple[int, int], timeout_seconds: int = 1
) -> Any:
    """An order of these (product_id, quantity) pairs, created and paid through the orders
    service (as a payment callback would) and delivered (as its `orders.fulfil` job would).
    Its timeout job is due at once, so that a burst worker does not wait for it (it finds the
    order paid)."""
    from server.commerce.orders import fulfilment
    from server.commerce.orders import service as orders

    runtime = api.app[RUNTIME]
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        order = await orders.create_order(
            uow, user_id=buyer.id, items=list(items), now=now, timeout_seconds=timeout_seconds
        )
        order_id, total, currency = order.id, order.total, order.currency
    if total:
        async with runtime.db.unit_of_work() as uow:
            await orders.mark_paid(
                uow,
                order_id=order_id,
                provider="sandbox",
                amount=total,
                currency=currency,
                paid_at=now,
                now=now,
            )
        async with runtime.db.unit_of_work() as uow:
            await fulfilment.fulfil_paid(uow, order_id=order_id, now=now)
    async with runtime.db.read() as session:
        return await session.get(Order, order_id)


async def order_item_ids(api: TestClient, order_id: int) -> list[int]:
    async with api.app[RUNTIME].db.read() as session:
        rows = await session.scalars(
            select(OrderItem.id).where(OrderItem.order_id == order_id).order_by(OrderItem.id)
        )
        return list(rows.all())
