"""The order state machine's table, and races between the buyer, the gateway and the timeout."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from models.commerce.orders import ORDER_STATUSES
from server.commerce.orders import service, states
from server.commerce.orders.errors import IllegalTransition
from server.runtime import Runtime
from tests.helpers.env import on_both_engines
from tests.helpers.orders import (
    ADDRESS,
    checkout,
    order_count,
    order_row,
    pay,
    product,
    stock_of,
)
from tests.helpers.people import Person, person

LEGAL = {
    ("pending_payment", "paid"),
    ("pending_payment", "cancelled"),
    ("paid", "fulfilled"),
    ("paid", "refunding"),
    ("fulfilled", "refunding"),
    ("cancelled", "paid"),
    ("refunding", "refunded"),
    ("refunding", "partially_refunded"),
    ("refunding", "paid"),
    ("refunding", "fulfilled"),
    ("partially_refunded", "refunding"),
}


def test_the_table_allows_exactly_the_documented_moves() -> None:
    assert set(states.TRANSITIONS) == set(ORDER_STATUSES)
    for before in ORDER_STATUSES:
        for after in ORDER_STATUSES:
            assert states.can_move(before, after) == ((before, after) in LEGAL), (before, after)
    assert not states.can_move("lost", "paid")
    assert {"paid", "fulfilled", "partially_refunded"} == states.REFUNDABLE


@on_both_engines
async def test_concurrent_buyers_never_take_more_than_the_stock(api: TestClient) -> None:
    mug = await product(api, kind="physical", price=2500, stock=3, credits=None)
    buyers = [await person(api) for _ in range(8)]
    body = {"items": [{"product_id": mug, "quantity": 1}], "shipping_address": ADDRESS}
    answers = await asyncio.gather(
        *(api.post("/api/v1/orders", json=body, headers=who.headers) for who in buyers)
    )
    statuses = sorted(answer.status for answer in answers)
    assert statuses == [201] * 3 + [409] * 5
    assert await stock_of(api, mug) == 0 and await order_count(api) == 3


@on_both_engines
async def test_a_payment_racing_a_cancel_ends_paid_with_its_stock_taken(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=1, credits=None)
    order = await checkout(api, buyer, [(mug, 1)])

    async def cancel() -> str:
        try:
            async with runtime.db.unit_of_work() as uow:
                await service.cancel(uow, order_id=order["id"], reason="timeout")
        except IllegalTransition:
            return "too late"
        return "cancelled"

    outcomes = await asyncio.gather(cancel(), pay(runtime, order))
    assert outcomes in (["too late", "paid"], ["cancelled", "revived"])
    assert (await order_row(runtime, order["id"])).status == "fulfilled"
    assert await stock_of(api, mug) == 0


@on_both_engines
async def test_expiring_twice_at_once_cancels_once(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    mug = await product(api, kind="physical", price=2500, stock=4, credits=None)
    order = await checkout(api, buyer, [(mug, 2)])
    later = runtime.clock.now() + timedelta(hours=1)

    async def expire() -> bool:
        async with runtime.db.unit_of_work() as uow:
            return await service.expire(uow, order_id=order["id"], now=later)

    assert sorted(await asyncio.gather(expire(), expire(), expire())) == [False, False, True]
    assert await stock_of(api, mug) == 4


@pytest.mark.parametrize("status", ["refunded", "fulfilled"])
async def test_cancelling_a_paid_order_is_illegal(
    api: TestClient, runtime: Runtime, buyer: Person, status: str
) -> None:
    pack = await product(api, price=600)
    order = await checkout(api, buyer, [(pack, 1)])
    await pay(runtime, order)
    if status == "refunded":
        async with runtime.db.unit_of_work() as uow:
            await service.complete_refund(uow, order_id=order["id"], amount=600, refund_ref="R")
    with pytest.raises(IllegalTransition):
        async with runtime.db.unit_of_work() as uow:
            await service.cancel(uow, order_id=order["id"], reason="x")
    assert (await order_row(runtime, order["id"])).status == status
