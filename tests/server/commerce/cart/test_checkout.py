"""What orders ask of the catalog: priced lines and guarded stock."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp.test_utils import TestClient

from server.commerce.catalog import service
from server.commerce.catalog.errors import InvalidQuantity
from server.keys import RUNTIME
from tests.helpers.commerce import product
from tests.helpers.people import Person, call


async def test_lines_carry_current_prices(api: TestClient, creator: Person) -> None:
    plan = await product(api, creator, kind="plan", price=3000, interval="month", trial_days=7)
    goods = await product(api, creator, kind="physical", price=450, stock=5)
    async with api.app[RUNTIME].db.read() as session:
        lines = await service.lines_for_checkout(session, items=[(goods["id"], 2), (plan["id"], 1)])
    assert [(ln.product_id, ln.quantity, ln.amount) for ln in lines] == [
        (goods["id"], 2, 900),
        (plan["id"], 1, 3000),
    ]
    assert lines[1].interval == "month" and lines[1].trial_days == 7
    assert lines[0].creator_id == creator.id and lines[0].currency == "CNY"


async def test_lines_refuse_bad_requests(api: TestClient, creator: Person) -> None:
    pack = await product(api, creator)
    hidden = await product(api, creator, status="draft")
    usd = await product(api, creator, currency="USD")
    async with api.app[RUNTIME].db.read() as session:
        for items in ([], [(pack["id"], 2)], [(pack["id"], 1), (pack["id"], 1)], [(pack["id"], 0)]):
            with pytest.raises(InvalidQuantity):
                await service.lines_for_checkout(session, items=items)
        with pytest.raises(service.ProductUnavailable):
            await service.lines_for_checkout(session, items=[(hidden["id"], 1)])
        with pytest.raises(service.ProductUnavailable):
            await service.lines_for_checkout(session, items=[(987654321, 1)])
        with pytest.raises(service.MixedCurrency):
            await service.lines_for_checkout(session, items=[(pack["id"], 1), (usd["id"], 1)])


async def test_concurrent_reservations_never_oversell(api: TestClient, creator: Person) -> None:
    goods = await product(api, creator, kind="physical", price=450, stock=5)
    db = api.app[RUNTIME].db

    async def reserve() -> bool:
        try:
            async with db.unit_of_work() as uow:
                await service.reserve_stock(uow.session, product_id=goods["id"], quantity=2)
        except service.OutOfStock:
            return False
        return True

    results = await asyncio.gather(*(reserve() for _ in range(6)))
    assert results.count(True) == 2
    assert (await call(api, "GET", f"/products/{goods['id']}", None, 200))["stock"] == 1
    async with db.unit_of_work() as uow:
        await service.release_stock(uow.session, product_id=goods["id"], quantity=2)
    assert (await call(api, "GET", f"/products/{goods['id']}", None, 200))["stock"] == 3


async def test_unlimited_products_reserve_freely(api: TestClient, creator: Person) -> None:
    goods = await product(api, creator, kind="physical", price=450)
    pack = await product(api, creator)
    async with api.app[RUNTIME].db.unit_of_work() as uow:
        await service.reserve_stock(uow.session, product_id=goods["id"], quantity=500)
        await service.reserve_stock(uow.session, product_id=pack["id"], quantity=1)
        await service.release_stock(uow.session, product_id=pack["id"], quantity=1)
        with pytest.raises(service.ProductUnavailable):
            await service.reserve_stock(uow.session, product_id=987654321, quantity=1)
    assert (await call(api, "GET", f"/products/{goods['id']}", None, 200))["stock"] is None
