"""Refunds: begin, complete (whole or part) and fail; what they take back and book."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from models.commerce.ledger import LedgerTransaction
from models.commerce.orders import Order, OrderItem
from models.content.items import Entitlement
from models.notify.notifications import Notification
from server.commerce.ledger import service as ledger
from server.commerce.orders import service
from server.commerce.orders.errors import IllegalTransition, RefundTooLarge
from server.commerce.wallet import service as wallet
from server.http.errors import ValidationFailed
from server.runtime import Runtime
from tests.helpers.env import on_both_engines
from tests.helpers.orders import checkout, count, order_row, paid_content, pay, product
from tests.helpers.people import Person


async def paid_order(api: TestClient, runtime: Runtime, buyer: Person, creator: Person) -> dict:
    """A fulfilled order of a credit pack (600) and a creator's article (990)."""
    content_id = await paid_content(runtime, creator.id)
    pack = await product(api, price=600, credits=100)
    article = await product(
        api, kind="content", price=990, credits=None, content_id=content_id, creator_id=creator.id
    )
    order = await checkout(api, buyer, [(pack, 1), (article, 1)])
    assert await pay(runtime, order) == "paid"
    return order


async def refund(runtime: Runtime, step: str, **kwargs: Any) -> None:
    async with runtime.db.unit_of_work() as uow:
        await getattr(service, step)(uow, **kwargs)


async def platform(session: AsyncSession, purpose: str) -> int:
    return await ledger.balance_of(
        session, owner_type="platform", owner_id=0, purpose=purpose, currency="CNY"
    )


async def balances(runtime: Runtime, buyer: Person) -> tuple[int, int, int, int]:
    """(buyer's credits, the sandbox gateway's account, platform cash, the credits liability)."""
    async with runtime.db.read() as session:
        return (
            await wallet.balance(session, user_id=buyer.id),
            await platform(session, "gateway:sandbox"),
            await platform(session, "cash"),
            await platform(session, "credits_liability"),
        )


async def active_grants(runtime: Runtime) -> int:
    query = select(func.count()).where(Entitlement.revoked_at.is_(None))
    return await count(runtime, query)


async def test_a_full_refund_takes_everything_back_and_books_it_once(
    api: TestClient, runtime: Runtime, buyer: Person, creator: Person
) -> None:
    order = await paid_order(api, runtime, buyer, creator)
    # 990 went to the creator's side, the credit pack's 600 to what the platform owes in credits.
    assert await balances(runtime, buyer) == (100, -1590, 0, 600)
    await refund(
        runtime, "begin_refund", order_id=order["id"], amount=1590, reason="不想要了", actor_id=None
    )
    assert (await order_row(runtime, order["id"])).status == "refunding"
    for _ in range(2):  # the gateway's confirmation, twice
        await refund(runtime, "complete_refund", order_id=order["id"], amount=1590, refund_ref="R1")
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refunded_amount, row.refund_pending) == ("refunded", 1590, 0)
    assert await balances(runtime, buyer) == (0, 0, 0, 0)
    assert await active_grants(runtime) == 0
    refunds = select(func.count()).where(LedgerTransaction.kind == "refund")
    assert await count(runtime, refunds) == 1
    notes = select(func.count()).where(Notification.type == "order.refunded")
    assert await count(runtime, notes) == 1
    with pytest.raises(IllegalTransition):
        await refund(
            runtime, "begin_refund", order_id=order["id"], amount=1, reason="x", actor_id=None
        )


async def test_a_part_refund_ends_only_the_items_it_covers(
    api: TestClient, runtime: Runtime, buyer: Person, creator: Person
) -> None:
    order = await paid_order(api, runtime, buyer, creator)
    await refund(
        runtime, "begin_refund", order_id=order["id"], amount=600, reason="积分", actor_id=None
    )
    await refund(runtime, "complete_refund", order_id=order["id"], amount=600, refund_ref="R1")
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refunded_amount) == ("partially_refunded", 600)
    async with runtime.db.read() as session:
        items = (await session.scalars(select(OrderItem).order_by(OrderItem.id))).all()
    assert [item.refunded_amount for item in items] == [600, 0]
    assert await balances(runtime, buyer) == (0, -990, 0, 0)
    assert await active_grants(runtime) == 1  # the article stays readable

    # A refund the gateway refuses returns the order to where it was.
    await refund(
        runtime, "begin_refund", order_id=order["id"], amount=500, reason="文章", actor_id=None
    )
    await refund(runtime, "fail_refund", order_id=order["id"], amount=500)
    await refund(runtime, "fail_refund", order_id=order["id"], amount=500)
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refund_pending, row.refunded_amount) == ("partially_refunded", 0, 600)
    with pytest.raises(RefundTooLarge):
        await refund(
            runtime, "begin_refund", order_id=order["id"], amount=991, reason="x", actor_id=None
        )


async def test_a_refund_made_at_the_gateway_alone_is_recorded_too(
    api: TestClient, runtime: Runtime, buyer: Person, creator: Person
) -> None:
    order = await paid_order(api, runtime, buyer, creator)
    await refund(runtime, "complete_refund", order_id=order["id"], amount=1590, refund_ref="G1")
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refunded_amount) == ("refunded", 1590)
    assert await balances(runtime, buyer) == (0, 0, 0, 0)


async def test_refunds_refuse_unpaid_orders_and_nonsense_amounts(
    api: TestClient, runtime: Runtime, buyer: Person, creator: Person
) -> None:
    pack = await product(api, price=600)
    pending = await checkout(api, buyer, [(pack, 1)])
    with pytest.raises(IllegalTransition):
        await refund(
            runtime, "begin_refund", order_id=pending["id"], amount=600, reason="", actor_id=None
        )
    with pytest.raises(IllegalTransition):
        await refund(runtime, "complete_refund", order_id=pending["id"], amount=600, refund_ref="X")
    order = await paid_order(api, runtime, buyer, creator)
    for amount in (0, -5):
        with pytest.raises(ValidationFailed):
            await refund(
                runtime,
                "begin_refund",
                order_id=order["id"],
                amount=amount,
                reason="",
                actor_id=None,
            )
    await refund(
        runtime, "begin_refund", order_id=order["id"], amount=100, reason="", actor_id=buyer.id
    )
    with pytest.raises(IllegalTransition):  # one refund at a time
        await refund(
            runtime, "begin_refund", order_id=order["id"], amount=100, reason="", actor_id=None
        )
    async with runtime.db.read() as session:
        assert (await session.get(Order, pending["id"])).status == "pending_payment"  # type: ignore[union-attr]


async def test_credits_come_back_in_proportion_over_part_refunds(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=600, credits=100)
    order = await checkout(api, buyer, [(pack, 1)])
    await pay(runtime, order)
    for ref, expected in (("R1", 67), ("R2", 34), ("R3", 0)):
        await refund(runtime, "complete_refund", order_id=order["id"], amount=200, refund_ref=ref)
        assert (await balances(runtime, buyer))[0] == expected
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refunded_amount) == ("refunded", 600)


@on_both_engines
async def test_six_concurrent_part_refunds_of_400_on_a_1000_order_refund_exactly_800(
    api: TestClient, runtime: Runtime, buyer: Person
) -> None:
    pack = await product(api, price=1000, credits=100)
    order = await checkout(api, buyer, [(pack, 1)])
    await pay(runtime, order)

    async def part(ref: str) -> str:
        try:
            await refund(
                runtime, "complete_refund", order_id=order["id"], amount=400, refund_ref=ref
            )
        except RefundTooLarge:
            return "too large"
        return "refunded"

    outcomes = await asyncio.gather(*(part(f"R{i}") for i in range(6)))
    assert sorted(outcomes) == ["refunded"] * 2 + ["too large"] * 4
    row = await order_row(runtime, order["id"])
    assert (row.status, row.refunded_amount, row.refund_pending) == ("partially_refunded", 800, 0)
    # Credits back in proportion, cash back to the gateway (out of the credits liability): 800
    # of 1000, booked once each.
    assert await balances(runtime, buyer) == (20, -200, 0, 200)
    refunds = select(func.count()).where(LedgerTransaction.kind == "refund")
    assert await count(runtime, refunds) == 2
    async with runtime.db.read() as session:
        item = await session.scalar(select(OrderItem).where(OrderItem.order_id == order["id"]))
    assert item is not None and item.refunded_amount == 800
