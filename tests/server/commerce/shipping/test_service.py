"""The shipping service on its own: opening shipments is idempotent, the sweep leaves alone what
changed under it."""

from __future__ import annotations

from datetime import timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from models.commerce.orders import Order, OrderItem
from models.commerce.shipping import Shipment, ShipmentItem
from server.commerce.shipping import service
from server.runtime import Runtime
from tests.helpers.orders import product
from tests.helpers.people import Person

from .helpers import act, goods, paid_order, ship


async def test_opening_shipments_again_changes_nothing(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person
) -> None:
    pack = await product(api)
    order = await paid_order(api, buyer, [(await goods(api, seller), 1), (pack, 1)])
    now = runtime.clock.now()
    async with runtime.db.unit_of_work() as uow:
        row = await uow.session.get(Order, order["id"])
        assert row is not None
        items = list(
            (await uow.session.scalars(select(OrderItem).where(OrderItem.order_id == row.id))).all()
        )
        await service.open_shipments(uow, row, items, now=now)
        await service.open_shipments(uow, row, [i for i in items if i.kind != "physical"], now=now)
    async with runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Shipment)) == 1
        assert await session.scalar(select(func.count()).select_from(ShipmentItem)) == 1


async def test_the_sweep_leaves_a_shipment_confirmed_meanwhile(
    api: TestClient, runtime: Runtime, buyer: Person, seller: Person
) -> None:
    order = await paid_order(api, buyer, [(await goods(api, seller), 1)])
    shipment_id = order["shipments"][0]["id"]
    await ship(api, seller, shipment_id)
    later = runtime.clock.now() + timedelta(days=runtime.settings.order_auto_confirm_days + 1)
    async with runtime.db.read() as session:
        assert await service.overdue(session, now=later, days=10, limit=10) == [shipment_id]
    await act(api, buyer, f"{shipment_id}/confirm")
    async with runtime.db.unit_of_work() as uow:
        assert not await service.auto_confirm(uow, shipment_id=shipment_id, now=later, days=10)
    async with runtime.db.read() as session:
        assert await service.refund_blocker(session, order["id"]) == "shipping.return_required"
