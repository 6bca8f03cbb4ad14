"""Orders helpers: products and coupons put straight into the catalog, checkout, payment."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.catalog import Product
from models.commerce.coupons import Coupon
from models.commerce.orders import Order
from models.content.items import Content
from models.identity.users import User
from server.commerce.orders import fulfilment, service
from server.keys import RUNTIME
from server.outbox import Event
from server.runtime import Runtime
from tests.helpers.people import Person, call


async def product(api: TestClient, **fields: Any) -> int:
    """An active product (a platform credit pack of 100 credits for 600 分 unless told)."""
    return await add_product(api.app[RUNTIME], **fields)


async def add_product(runtime: Runtime, **fields: Any) -> int:
    values: dict[str, Any] = {
        "kind": "credits",
        "title": "100 积分",
        "price": 600,
        "currency": "CNY",
        "status": "active",
        "credits": 100,
        **fields,
    }
    async with runtime.db.unit_of_work() as uow:
        row = Product(**values)
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def coupon(api: TestClient, created_by: int, **fields: Any) -> int:
    values: dict[str, Any] = {
        "code": "SAVE100",
        "kind": "fixed",
        "value": 100,
        "currency": "CNY",
        "status": "active",
        "created_by": created_by,
        **fields,
    }
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        row = Coupon(**values)
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def stock_of(api: TestClient, product_id: int) -> int | None:
    async with api.app[RUNTIME].db.read() as session:
        return await session.scalar(select(Product.stock).where(Product.id == product_id))


async def used_count(api: TestClient, coupon_id: int) -> int:
    async with api.app[RUNTIME].db.read() as session:
        return int(await session.scalar(select(Coupon.used_count).where(Coupon.id == coupon_id)))


async def order_count(api: TestClient) -> int:
    async with api.app[RUNTIME].db.read() as session:
        return int(await session.scalar(select(func.count()).select_from(Order)) or 0)


# Where physical goods go (checkout requires one for them, and ignores it for anything else).
ADDRESS: dict[str, Any] = {
    "recipient_name": "张三",
    "phone": "+86 138-0013-8000",
    "region": "浙江省",
    "city": "杭州市",
    "district": "西湖区",
    "address_line": "文三路 100 号 2 单元 301",
    "postal_code": "310000",
}


async def checkout(
    api: TestClient, who: Person, items: list[tuple[int, int]], status: int = 201, **extra: Any
) -> dict[str, Any]:
    body = {
        "items": [{"product_id": p, "quantity": q} for p, q in items],
        "shipping_address": ADDRESS,
        **extra,
    }
    return await call(api, "POST", "/orders", who, status, json=body)


class RecordingEvents:
    def __init__(self) -> None:
        self.sent: list[Event] = []

    async def send(self, event: Event) -> None:
        self.sent.append(event)

    def of(self, event_type: str) -> list[Event]:
        return [event for event in self.sent if event.type == event_type]


async def add_buyer(runtime: Runtime) -> int:
    """A reader account made straight in the database; its id."""
    async with runtime.db.unit_of_work() as uow:
        user = User(nickname="买家", roles=["reader"], status="active")
        uow.session.add(user)
        await uow.session.flush()
        return user.id


async def paid_content(runtime: Runtime, author_id: int) -> int:
    async with runtime.db.unit_of_work() as uow:
        item = Content(
            author_id=author_id, kind="article", status="published", access="paid", title="付费"
        )
        uow.session.add(item)
        await uow.session.flush()
        return item.id


async def pay(runtime: Runtime, order: dict[str, Any], **overrides: Any) -> str:
    values: dict[str, Any] = {
        "order_id": order["id"],
        "provider": "sandbox",
        "amount": order["total"],
        "currency": order["currency"],
        "paid_at": runtime.clock.now(),
        **overrides,
    }
    async with runtime.db.unit_of_work() as uow:
        outcome = await service.mark_paid(uow, **values)
    await deliver_paid(runtime)
    return outcome


async def deliver_paid(runtime: Runtime) -> int:
    """Run the `orders.fulfil` job's work for every order left `paid` (what the worker does
    with the jobs those payments queued); returns how many were delivered."""
    async with runtime.db.read() as session:
        due = await fulfilment.overdue_deliveries(
            session, now=runtime.clock.now(), older_than=timedelta(0), limit=1000
        )
    delivered = 0
    for order_id in due:
        async with runtime.db.unit_of_work() as uow:
            delivered += await fulfilment.fulfil_paid(
                uow, order_id=order_id, now=runtime.clock.now()
            )
    return delivered


async def count(runtime: Runtime, query: Any) -> int:
    async with runtime.db.read() as session:
        return int(await session.scalar(query) or 0)


async def order_row(runtime: Runtime, order_id: int) -> Order:
    async with runtime.db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order
