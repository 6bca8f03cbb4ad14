"""A renewal charged to the wallet earns the plan's creator a sale like an order does."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from sqlalchemy import select

from jobs.earnings import settle_due
from jobs.subscriptions import renew_due
from models.commerce.catalog import Product
from models.commerce.earnings import Earning
from models.commerce.subscriptions import Subscription
from server.commerce.earnings import service as earnings
from server.commerce.ledger import service as ledger
from server.runtime import Runtime
from tests.helpers.earnings import balance, creator_balances, creator_plan, sell
from tests.helpers.people import call
from tests.helpers.subscriptions import MovableClock, member
from tests.invariants import assert_money_invariants


async def test_a_wallet_renewal_records_the_creators_sale_once(
    api: TestClient, runtime: Runtime
) -> None:
    clock = MovableClock(datetime(2027, 1, 31, 2, 0, tzinfo=UTC))
    runtime.clock = clock
    creator, reader = await member(api, "creator"), await member(api)
    plan = await creator_plan(runtime, creator.id, price=3005)
    await sell(runtime, buyer_id=reader.id, product_id=plan, at=clock.now())
    async with runtime.db.read() as session:
        sub = await session.scalar(select(Subscription).where(Subscription.user_id == reader.id))
    assert sub is not None
    await call(api, "PATCH", f"/subscriptions/{sub.id}", reader, 200, json={"renew_with": "wallet"})
    # The reader buys the credits (their price moves from platform cash to the credits
    # liability); the renewal's sale is paid from the credits liability.
    credits = await _credit_pack(runtime, credits=400, price=4000)
    await sell(runtime, buyer_id=reader.id, product_id=credits, at=clock.now())

    clock.at = sub.current_period_end - timedelta(hours=2)
    assert await renew_due({"runtime": runtime}) == {"renewed": 1}
    assert await renew_due({"runtime": runtime}) == {}
    reference = f"subscription:{sub.id}:2"
    async with runtime.db.read() as session:
        rows = (
            await session.scalars(
                select(Earning).where(Earning.creator_id == creator.id).order_by(Earning.id)
            )
        ).all()
    assert [(row.gross, row.fee, row.net) for row in rows] == [(3005, 601, 2404)] * 2
    renewal = rows[1]
    assert (renewal.reference, renewal.order_item_id) == (reference, None)
    assert renewal.status == "pending"
    assert renewal.created_at == clock.now()
    assert await creator_balances(runtime, creator.id) == (2 * 2404, 0)
    assert await balance(runtime, owner_type="platform", owner_id=0, purpose="revenue") == 1202
    async with runtime.db.read() as session:
        for purpose, held in (("cash", 0), ("credits_liability", 4000 - 3005)):
            assert (
                await ledger.balance_of(
                    session, owner_type="platform", owner_id=0, purpose=purpose, currency="CNY"
                )
                == held
            )

    async with runtime.db.unit_of_work() as uow:  # the same renewal again: no second sale
        again = await earnings.record_renewal(
            uow,
            creator_id=creator.id,
            amount=3005,
            currency="CNY",
            reference=reference,
            title="专栏订阅",
            at=clock.now(),
        )
    assert again == renewal.id
    assert await creator_balances(runtime, creator.id) == (2 * 2404, 0)

    sales = await call(api, "GET", "/earnings/sales", creator, 200)
    assert sales["items"][0]["order_item_id"] is None
    clock.at = renewal.available_at
    assert await settle_due({"runtime": runtime}) == 2
    assert await creator_balances(runtime, creator.id) == (0, 2 * 2404)
    await assert_money_invariants(runtime.db.engine)


async def _credit_pack(runtime: Runtime, *, credits: int, price: int) -> int:
    async with runtime.db.unit_of_work() as uow:
        row = Product(
            creator_id=None,
            kind="credits",
            title="积分",
            price=price,
            currency="CNY",
            status="active",
            credits=credits,
        )
        uow.session.add(row)
        await uow.session.flush()
        return row.id


async def test_a_platform_plan_renewal_earns_nobody(api: TestClient, runtime: Runtime) -> None:
    async with runtime.db.unit_of_work() as uow:
        found = await earnings.record_renewal(
            uow,
            creator_id=None,
            amount=3000,
            currency="CNY",
            reference="subscription:0:2",
            title="会员",
            at=runtime.clock.now(),
        )
    assert found is None
